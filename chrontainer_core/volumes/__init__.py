"""Volumes: the list and its changes (``service``), the read-only file browser (``browser``),
backup and restore (``backups``), and the helper container they read and write through
(``helper``)."""
