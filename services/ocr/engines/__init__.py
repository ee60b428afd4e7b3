"""OCR engines behind one protocol: pixels in, a laid-out `ocr_pb2.Page` out."""
