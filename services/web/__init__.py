"""The edge gateway: serves the device page (client/browser/) to a phone's browser and relays its
key frames to a stylizer over a WebSocket, one v1 Stylize message per binary WebSocket message."""
