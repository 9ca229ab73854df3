-- user_activity while no day's activity file exists yet (a lake built before the table):
-- read_parquet fails on a pattern matching no file, so the view is empty, with the same columns.
CREATE OR REPLACE VIEW user_activity AS
SELECT
    CAST(NULL AS DATE) AS activity_date,
    CAST(NULL AS VARCHAR) AS user_id,
    CAST(NULL AS BIGINT) AS messages,
    CAST(NULL AS INTEGER) AS year,
    CAST(NULL AS INTEGER) AS month,
    CAST(NULL AS INTEGER) AS day
WHERE false
