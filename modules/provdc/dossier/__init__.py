"""The security-level proposal dossier (hồ sơ đề xuất cấp độ) of an information system."""
