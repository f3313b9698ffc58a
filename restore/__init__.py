"""Restore planning and file recovery for VM recovery points, offline."""
