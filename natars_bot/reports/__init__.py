"""What coordinators take away: the screening log, its exports (CSV, XLSX, JSON Lines), statistics
and the CONSORT-style picture.
"""
