"""TS2Vec self-supervised pretraining of the OHLC encoder (trainer, loss, crops, exclusions, checkpoint)."""
