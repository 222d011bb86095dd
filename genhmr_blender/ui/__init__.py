"""Sidebar panels of the 3D viewport and the Video Sequencer."""
