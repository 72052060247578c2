"""Notifications: events worth telling someone about, channels that tell them, and durable
delivery (DESIGN §2 ``notify/``).

- :mod:`.models`: the event registry, notifications, channel configurations, deliveries.
- ``channel.py`` + one module per channel kind: how a notification is sent.
- ``detect.py``: turns bus events (engine events, runs, hosts) and audited failures into
  notifications.
- ``service.py``: channels, the routing matrix, throttling, "send test".
- ``delivery.py``: the durable queue and its worker (retries with backoff, each attempt logged).
"""
