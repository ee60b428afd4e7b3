"""OCR service: Tesseract and PP-OCR over images and PDFs."""
