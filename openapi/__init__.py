"""The served contract (`openapi.yaml`), shipped as package data of `rasa_messaging.openapi`."""
