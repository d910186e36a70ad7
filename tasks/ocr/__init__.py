"""OCR: an edge OCR pipeline (DB detector + CRNN-CTC recogniser distilled from a larger CRNN, the "big model")
assessed E-ARMOR-style (arXiv 2509.03615) on synthetic multilingual scene text, beside Tesseract and
RapidOCR (PP-OCRv4 mobile, ONNX) as real peers."""
