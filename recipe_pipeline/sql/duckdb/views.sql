-- Local stand-in for the Athena tables: DuckDB views over the lake's files.
-- {{conversations_glob}}, {{metrics_glob}} and {{activity_glob}} are filled in with quoted paths (braces doubled
-- here, so no path lands in this comment).
CREATE OR REPLACE VIEW recipe_conversations AS
SELECT *
FROM read_parquet(
    {conversations_glob},
    hive_partitioning = true,
    hive_types = {{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}},
    union_by_name = true
);

CREATE OR REPLACE VIEW daily_metrics AS
SELECT *
FROM read_json(
    {metrics_glob},
    format = 'newline_delimited',
    hive_partitioning = true,
    hive_types = {{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}},
    columns = {{
        'date': 'VARCHAR',
        'total_conversations': 'BIGINT',
        'unique_users': 'BIGINT',
        'recipes_discussed': 'MAP(VARCHAR, BIGINT)',
        'total_messages': 'BIGINT',
        'avg_conversation_length': 'DOUBLE',
        'user_messages': 'BIGINT',
        'assistant_messages': 'BIGINT',
        'tool_messages': 'BIGINT',
        'conversations_with_recipe': 'BIGINT',
        'pii_redactions': 'BIGINT',
        'messages_by_hour': 'MAP(VARCHAR, BIGINT)',
        'tool_usage': 'MAP(VARCHAR, BIGINT)'
    }}
);

-- Columns named, in the order of the stand-in used before any activity file exists
-- (duckdb/user_activity_empty.sql): DuckDB appends Hive columns in an order of its own.
CREATE OR REPLACE VIEW user_activity AS
SELECT activity_date, user_id, messages, year, month, day
FROM read_parquet(
    {activity_glob},
    hive_partitioning = true,
    hive_types = {{'year': INTEGER, 'month': INTEGER, 'day': INTEGER}},
    union_by_name = true
);
