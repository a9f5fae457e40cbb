"""Websocket routes. Apps add theirs here."""

from django.urls import path

from assistant.consumers import ChatConsumer

websocket_urlpatterns: list = [
    path("ws/chat/", ChatConsumer.as_asgi()),
]
