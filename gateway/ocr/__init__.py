"""What the OCR routes share (the multipart route, OCR jobs)."""
