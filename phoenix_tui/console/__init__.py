"""The Textual operator console: the app, its actions, its view model and its panes."""
