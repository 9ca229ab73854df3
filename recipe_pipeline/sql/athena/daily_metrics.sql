-- Athena table over the daily metrics (one JSON object per file, Hive-style year/month/day).
CREATE EXTERNAL TABLE IF NOT EXISTS {database}.daily_metrics (
    `date` string,
    total_conversations bigint,
    unique_users bigint,
    recipes_discussed map<string, bigint>,
    total_messages bigint,
    avg_conversation_length double,
    user_messages bigint,
    assistant_messages bigint,
    tool_messages bigint,
    conversations_with_recipe bigint,
    pii_redactions bigint,
    messages_by_hour map<string, bigint>,
    tool_usage map<string, bigint>
)
PARTITIONED BY (year int, month int, day int)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION '{location}/'
TBLPROPERTIES (
{partition_projection}
)
