"""rasa-messaging: a spec-first server for the Rasa Platform Messaging API.

`rasa_messaging.app.create_app` builds the server; `rasa_messaging.cli` is the command line.
"""
