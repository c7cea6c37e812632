"""Talk to a model: one turn with history (turn.py), the notebook's chat box (box/), and a server the room
shares (server_client.py)."""
