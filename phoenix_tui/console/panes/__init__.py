"""The console's panes: log, GPU, loss, patch queue, backups, detail and status bar."""
