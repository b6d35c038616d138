"""The conversation state machine: flows, states and transitions, free of Telegram types."""
