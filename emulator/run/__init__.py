"""The run loop: it drives the actors of one scenario, runs the kdump service and writes, verifies and reports."""
