"""The guardian: supervises agent workers and keeps their durable state (checkpoints + WAL)."""
