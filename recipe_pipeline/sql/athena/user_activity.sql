-- Athena table over the users active each day (Parquet, Hive-style year/month/day; kept 2 years).
-- Partition projection: no per-day DDL and never MSCK REPAIR TABLE.
CREATE EXTERNAL TABLE IF NOT EXISTS {database}.user_activity (
    activity_date date,
    user_id string,
    messages bigint
)
PARTITIONED BY (year int, month int, day int)
STORED AS PARQUET
LOCATION '{location}/'
TBLPROPERTIES (
{partition_projection}
)
