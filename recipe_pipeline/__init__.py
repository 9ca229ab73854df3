"""recipe-pipeline: privacy-safe analytics for a recipe chatbot, as a Dagster project."""
