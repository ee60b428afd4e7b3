"""Gateway-side pieces of the live ASR stream: WebSocket tickets and the WebSocket <->
StreamingRecognize bridge."""
