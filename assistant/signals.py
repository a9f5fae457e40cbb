"""Open chat sockets told at once when their session ends, not on their next frame.

A chat socket joins two groups of the channel layer as it opens (``assistant.consumers``): its
session's and its account's. Signing out sends the session's group ``chat.session_ended``: that
session's sockets, in every web process, stop showing the answer being written and close with
4401; another browser of the same person, signed in with another session, is not in the group.
Saving an account's password or active flag, or deleting it, sends the account's group
``chat.account_changed`` once the change is committed: each of its sockets checks the account as it
does before every frame (deactivated, deleted, or its password changed, which signs it out of every
session as Django does for pages: closed with 4401; otherwise nothing happens).

Connected in ``AssistantConfig.ready``. A change made by ``QuerySet.update()`` sends no signal: the
check before each frame still closes those sockets.
"""

from __future__ import annotations

import hashlib
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

logger = logging.getLogger(__name__)

User = get_user_model()
# The fields whose change may end the account's sessions (``get_session_auth_hash`` is made from the
# password's hash; an inactive account cannot be signed in).
_SESSION_FIELDS = frozenset({"password", "is_active"})


def session_group(session_key: str) -> str:
    """The group of the chat sockets opened with session ``session_key``. A hash of the key, never the
    key: a session key signs its holder in, and a Redis channel layer keeps group names in the clear."""
    return "chat-session." + hashlib.sha256(session_key.encode()).hexdigest()


def account_group(user_id: int) -> str:
    """The group of every chat socket of account ``user_id``."""
    return f"chat-account.{user_id}"


def _tell(group: str, message_type: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": message_type})
    except Exception:  # a sign-out must not fail because the channel layer is away
        # The sockets are still closed on their next frame, which checks the session and the account.
        logger.warning("could not tell chat sockets in %s: %s", group.split(".")[0], message_type, exc_info=True)


@receiver(user_logged_out, dispatch_uid="chat_session_ended")
def chat_session_ended(sender, request, user, **kwargs) -> None:
    """Sent by Django's ``logout`` before it empties the session, so its key is still known here."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        _tell(session_group(key), "chat.session_ended")


@receiver(post_save, sender=User, dispatch_uid="chat_account_saved")
def chat_account_saved(sender, instance, created, raw=False, update_fields=None, **kwargs) -> None:
    """A save that may have changed the password or the active flag (signing in saves ``last_login``
    alone, and is left out). The sockets check the account once the change is committed."""
    if created or raw or (update_fields is not None and not _SESSION_FIELDS & set(update_fields)):
        return
    group = account_group(instance.pk)
    transaction.on_commit(lambda: _tell(group, "chat.account_changed"))


@receiver(post_delete, sender=User, dispatch_uid="chat_account_deleted")
def chat_account_deleted(sender, instance, **kwargs) -> None:
    group = account_group(instance.pk)
    transaction.on_commit(lambda: _tell(group, "chat.account_changed"))
