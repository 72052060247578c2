"""The MQTT bridge: Chrontainer\x27s containers, hosts and schedules as Home Assistant entities."""
