-- Athena table over the anonymized conversations (Parquet, Hive-style year/month/day).
-- Partition projection: no per-day DDL and never MSCK REPAIR TABLE.
CREATE EXTERNAL TABLE IF NOT EXISTS {database}.recipe_conversations (
    conversation_id string,
    `timestamp` string,
    message_ts timestamp,
    user_id string,
    role string,
    message string,
    message_length int,
    pii_redactions int,
    has_recipe boolean,
    recipe_name string,
    recipe_category string,
    tools_used array<string>,
    rating tinyint
)
PARTITIONED BY (year int, month int, day int)
STORED AS PARQUET
LOCATION '{location}/'
TBLPROPERTIES (
{partition_projection}
)
