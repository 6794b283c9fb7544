"""What users run on top of the contract: backtests and leaderboards (later: anomaly
detection and classification). Tasks see models only through ``tsfm.Forecaster``."""
