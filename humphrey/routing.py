"""Websocket routes. Apps add theirs here."""

websocket_urlpatterns: list = []
