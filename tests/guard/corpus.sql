# The guard corpus: every case is one statement and its expected verdict.
#   == allow DIALECT | why it is a legitimate read
#   == reject DIALECT CODE | why it must be refused
# The SQL runs until the next "==" line; lines starting with "# " are notes.

# ---------------------------------------------------------------- legitimate reads
== allow postgres | window function with partition and frame
SELECT customer_id, created_at, SUM(total_amount) OVER (PARTITION BY customer_id ORDER BY created_at ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM orders
== allow postgres | ranking inside a CTE
WITH ranked AS (SELECT id, customer_id, RANK() OVER (PARTITION BY customer_id ORDER BY total_amount DESC) AS r FROM orders) SELECT * FROM ranked WHERE r <= 3
== allow postgres | recursive CTE
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n
== allow postgres | lateral join
SELECT c.id, last_order.created_at FROM customers c CROSS JOIN LATERAL (SELECT created_at FROM orders o WHERE o.customer_id = c.id ORDER BY created_at DESC LIMIT 1) AS last_order
== allow postgres | JSON operators
SELECT payload->>'name', payload #> '{a,b}', payload @> '{"x": 1}' FROM events WHERE payload ? 'name'
== allow postgres | a column named delete
SELECT "delete", "update" FROM flags WHERE "delete" = false
== allow postgres | string literal containing DROP TABLE
SELECT 'DROP TABLE customers; --' AS harmless, name FROM customers
== allow postgres | comment containing a write
SELECT 1 AS one /* DELETE FROM orders */ -- UPDATE orders SET x = 1
== allow postgres | date arithmetic and date_trunc
SELECT date_trunc('month', created_at) AS month, COUNT(*) FROM orders WHERE created_at >= now() - INTERVAL '30 days' GROUP BY 1 ORDER BY 1
== allow postgres | FILTER clause and COALESCE
SELECT COUNT(*) FILTER (WHERE status = 'paid') AS paid, COALESCE(SUM(total_amount), 0) FROM orders
== allow postgres | GROUPING SETS
SELECT country, city, COUNT(*) FROM customers GROUP BY GROUPING SETS ((country), (country, city), ())
== allow postgres | DISTINCT ON
SELECT DISTINCT ON (customer_id) customer_id, id, created_at FROM orders ORDER BY customer_id, created_at DESC
== allow postgres | UNION, INTERSECT, EXCEPT
(SELECT id FROM customers WHERE country = 'US' UNION SELECT customer_id FROM orders) EXCEPT SELECT id FROM customers WHERE city IS NULL
== allow postgres | scalar and EXISTS subqueries
SELECT name, (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id) AS n FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)
== allow postgres | generate_series as a table
SELECT d::date FROM generate_series(DATE '2026-01-01', DATE '2026-01-31', INTERVAL '1 day') AS d
== allow postgres | VALUES as a query
VALUES (1, 'a'), (2, 'b')
== allow postgres | parameters
SELECT * FROM customers WHERE created_at > $1 AND country = $2 LIMIT 10
== allow postgres | string_agg and array_agg
SELECT customer_id, string_agg(status, ',' ORDER BY created_at), array_agg(id) FROM orders GROUP BY customer_id
== allow postgres | CASE and casts
SELECT CASE WHEN total_amount > 100 THEN 'big' ELSE 'small' END, total_amount::int, CAST(created_at AS date) FROM orders
== allow postgres | percentile_cont within group
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total_amount) FROM orders
== allow postgres | jsonb_build_object and age
SELECT jsonb_build_object('id', id, 'age', age(now(), created_at)) FROM customers
== allow postgres | regexp and string functions
SELECT initcap(name), split_part(email, '@', 2), regexp_replace(name, '\s+', ' ', 'g') FROM customers
== allow postgres | quoted identifiers and unicode
SELECT "Mixed Case", "café" FROM "Odd Table" WHERE "dot.ted" > 0
== allow postgres | schema-qualified table
SELECT * FROM sales.orders o JOIN public.customers c ON c.id = o.customer_id
== allow postgres | TABLE shorthand
TABLE customers
== allow postgres | nested CTEs
WITH a AS (SELECT id FROM customers), b AS (SELECT id FROM a WHERE id > 10) SELECT COUNT(*) FROM b
== allow postgres | current_setting is a read
SELECT current_setting('TimeZone')
== allow postgres | extract and to_char
SELECT EXTRACT(YEAR FROM created_at), to_char(created_at, 'YYYY-MM') FROM orders
== allow postgres | window with named window clause
SELECT id, AVG(total_amount) OVER w FROM orders WINDOW w AS (PARTITION BY customer_id)
== allow postgres | case and whitespace variations
  select
     id   from    CUSTOMERS   where  ID  =  1
== allow postgres | ILIKE and ANY
SELECT * FROM customers WHERE name ILIKE '%ana%' AND country = ANY (ARRAY['US', 'CA'])
== allow postgres | NULLS LAST ordering with OFFSET
SELECT * FROM customers ORDER BY city NULLS LAST OFFSET 10 LIMIT 5
== allow postgres | FETCH FIRST
SELECT * FROM orders ORDER BY id FETCH FIRST 5 ROWS ONLY
== allow postgres | dollar-quoted literal containing DELETE
SELECT $$DELETE FROM orders$$ AS text
== allow mysql | window function
SELECT customer_id, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY created_at) AS n FROM orders
== allow mysql | recursive CTE
WITH RECURSIVE n AS (SELECT 1 AS i UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n
== allow mysql | date functions
SELECT DATE_FORMAT(created_at, '%Y-%m') AS month, COUNT(*) FROM orders WHERE created_at >= DATE_SUB(NOW(), INTERVAL 30 DAY) GROUP BY month
== allow mysql | JSON functions
SELECT JSON_EXTRACT(payload, '$.name'), payload->'$.a', payload->>'$.b' FROM events
== allow mysql | backtick identifiers and reserved words
SELECT `select`, `delete`, `order` FROM `group` WHERE `from` = 1
== allow mysql | GROUP_CONCAT and IFNULL
SELECT customer_id, GROUP_CONCAT(status SEPARATOR ','), IFNULL(SUM(total_amount), 0) FROM orders GROUP BY customer_id
== allow mysql | LIMIT with offset
SELECT * FROM orders ORDER BY id LIMIT 10, 20
== allow mysql | string literal with a stacked statement inside
SELECT 'x; DROP TABLE orders' AS s
== allow mysql | hash comment
SELECT 1 AS one # DELETE FROM orders
== allow mysql | derived table and join
SELECT c.name, t.total FROM customers c JOIN (SELECT customer_id, SUM(total_amount) AS total FROM orders GROUP BY customer_id) t ON t.customer_id = c.id
== allow mysql | FIND_IN_SET and TIMESTAMPDIFF
SELECT FIND_IN_SET('a', tags), TIMESTAMPDIFF(DAY, created_at, NOW()) FROM customers
== allow mysql | UNION ALL
SELECT id FROM customers UNION ALL SELECT id FROM orders
== allow mysql | CASE WHEN and IN subquery
SELECT CASE WHEN status IN ('paid', 'shipped') THEN 1 ELSE 0 END FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE country = 'CA')
== allow mysql | optimizer hint comment
SELECT /*+ MAX_EXECUTION_TIME(1000) */ id FROM orders
== allow mysql | parameters
SELECT * FROM orders WHERE customer_id = $1 AND created_at BETWEEN $2 AND $3
== allow mysql | HAVING
SELECT country, COUNT(*) AS n FROM customers GROUP BY country HAVING COUNT(*) > 5
== allow mysql | database-qualified table
SELECT * FROM shop.orders
== allow mysql | REGEXP
SELECT * FROM customers WHERE email REGEXP '^[a-z]+'
== allow sqlite | window function
SELECT id, LAG(total_amount) OVER (ORDER BY created_at) FROM orders
== allow sqlite | recursive CTE
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT i FROM n
== allow sqlite | date functions
SELECT strftime('%Y-%m', created_at) AS month, julianday('now') - julianday(created_at) FROM orders
== allow sqlite | json_extract and json_each
SELECT json_extract(payload, '$.a'), value FROM events, json_each(events.payload)
== allow sqlite | group_concat, ifnull, iif, printf
SELECT group_concat(status), ifnull(city, '-'), iif(total_amount > 100, 'big', 'small'), printf('%.2f', total_amount) FROM orders JOIN customers ON customers.id = orders.customer_id
== allow sqlite | string literal with PRAGMA
SELECT 'PRAGMA writable_schema = 1' AS s
== allow sqlite | bracket-quoted identifiers
SELECT "order", [group] FROM "weird table"
== allow sqlite | LIMIT OFFSET
SELECT * FROM orders LIMIT 5 OFFSET 10
== allow sqlite | typeof and total
SELECT typeof(total_amount), total(total_amount) FROM orders
== allow sqlite | EXISTS and NOT IN
SELECT * FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id) AND c.id NOT IN (1, 2)
== allow sqlite | VALUES
VALUES (1), (2), (3)
== allow sqlite | parameters reused
SELECT * FROM orders WHERE customer_id = $1 OR id = $1
== allow sqlite | CASE in ORDER BY
SELECT * FROM orders ORDER BY CASE status WHEN 'pending' THEN 0 ELSE 1 END, id
== allow tsql | TOP and ORDER BY
SELECT TOP 10 * FROM orders ORDER BY created_at DESC
== allow tsql | OFFSET FETCH
SELECT * FROM orders ORDER BY id OFFSET 10 ROWS FETCH NEXT 5 ROWS ONLY
== allow tsql | NOLOCK hint
SELECT * FROM orders WITH (NOLOCK)
== allow tsql | window function
SELECT id, SUM(total_amount) OVER (PARTITION BY customer_id) FROM dbo.orders
== allow tsql | date functions
SELECT DATEADD(day, -30, GETDATE()), DATEDIFF(day, created_at, GETDATE()), FORMAT(created_at, 'yyyy-MM') FROM orders
== allow tsql | ISNULL, IIF, LEN, CHARINDEX
SELECT ISNULL(city, '-'), IIF(total_amount > 100, 1, 0), LEN(name), CHARINDEX('@', email) FROM customers
== allow tsql | CTE
WITH t AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY customer_id) SELECT * FROM t WHERE n > 2
== allow tsql | CROSS APPLY
SELECT c.id, x.id FROM customers c CROSS APPLY (SELECT TOP 1 id FROM orders o WHERE o.customer_id = c.id ORDER BY created_at DESC) x
== allow tsql | bracket identifiers
SELECT [order], [select] FROM [dbo].[weird table]
== allow tsql | STRING_AGG
SELECT customer_id, STRING_AGG(status, ',') FROM orders GROUP BY customer_id
== allow tsql | JSON_VALUE
SELECT JSON_VALUE(payload, '$.name') FROM events
== allow tsql | literal containing xp_cmdshell
SELECT 'EXEC xp_cmdshell ''dir''' AS s

# ---------------------------------------------------------------- writes and DDL
== reject postgres query_not_read_only | DELETE
DELETE FROM orders
== reject postgres query_not_read_only | UPDATE
UPDATE orders SET status = 'x'
== reject postgres query_not_read_only | INSERT
INSERT INTO orders (id) VALUES (1)
== reject postgres query_not_read_only | INSERT ... SELECT
INSERT INTO archive SELECT * FROM orders
== reject postgres query_not_read_only | MERGE
MERGE INTO orders o USING staging s ON o.id = s.id WHEN MATCHED THEN DELETE
== reject postgres query_not_read_only | DROP TABLE
DROP TABLE orders
== reject postgres query_not_read_only | TRUNCATE
TRUNCATE orders
== reject postgres query_not_read_only | CREATE TABLE AS
CREATE TABLE copy AS SELECT * FROM orders
== reject postgres query_not_read_only | ALTER TABLE
ALTER TABLE orders ADD COLUMN x int
== reject postgres query_not_read_only | GRANT
GRANT ALL ON orders TO public
== reject postgres query_not_read_only | data-modifying CTE with DELETE
WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d
== reject postgres query_not_read_only | data-modifying CTE with UPDATE
WITH u AS (UPDATE orders SET status = 'x' RETURNING id) SELECT COUNT(*) FROM u
== reject postgres query_not_read_only | data-modifying CTE with INSERT
WITH i AS (INSERT INTO orders (id) VALUES (1) RETURNING id) SELECT * FROM i
== reject postgres query_not_read_only | nested data-modifying CTE
WITH a AS (SELECT 1), b AS (WITH c AS (DELETE FROM orders RETURNING id) SELECT * FROM c) SELECT * FROM b
== reject postgres query_not_read_only | SELECT INTO creates a table
SELECT * INTO orders_copy FROM orders
== reject postgres query_not_read_only | SELECT INTO TEMP
SELECT 1 INTO TEMP scratch
== reject postgres query_not_read_only | FOR UPDATE
SELECT * FROM orders FOR UPDATE
== reject postgres query_not_read_only | FOR SHARE SKIP LOCKED
SELECT * FROM orders FOR SHARE SKIP LOCKED
== reject postgres query_not_read_only | FOR NO KEY UPDATE inside a subquery
SELECT * FROM (SELECT * FROM orders FOR NO KEY UPDATE) s
== reject postgres query_not_read_only | stacked statements
SELECT 1; DROP TABLE orders
== reject postgres query_not_read_only | stacked after a comment
SELECT 1 /* harmless */; DELETE FROM orders
== reject postgres query_not_read_only | stacked with a line comment hiding the semicolon context
SELECT 1 -- comment
; DELETE FROM orders
== reject postgres query_not_read_only | two selects
SELECT 1; SELECT 2
== reject postgres query_not_read_only | COPY TO PROGRAM
COPY (SELECT 1) TO PROGRAM 'true'
== reject postgres query_not_read_only | COPY FROM
COPY orders FROM '/tmp/nlq_never.csv'
== reject postgres query_not_read_only | DO block
DO $$ BEGIN DELETE FROM orders; END $$
== reject postgres query_not_read_only | CALL procedure
CALL archive_orders()
== reject postgres query_not_read_only | EXECUTE prepared
EXECUTE p(1)
== reject postgres query_not_read_only | PREPARE
PREPARE p AS DELETE FROM orders
== reject postgres query_not_read_only | SET
SET statement_timeout = 0
== reject postgres query_not_read_only | SET ROLE
SET ROLE postgres
== reject postgres query_not_read_only | SET SESSION CHARACTERISTICS
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE
== reject postgres query_not_read_only | RESET
RESET ALL
== reject postgres query_not_read_only | BEGIN
BEGIN
== reject postgres query_not_read_only | COMMIT
COMMIT
== reject postgres query_not_read_only | START TRANSACTION READ WRITE
START TRANSACTION READ WRITE
== reject postgres query_not_read_only | LOCK TABLE
LOCK TABLE orders IN ACCESS EXCLUSIVE MODE
== reject postgres query_not_read_only | VACUUM
VACUUM orders
== reject postgres query_not_read_only | ANALYZE
ANALYZE orders
== reject postgres query_not_read_only | REFRESH MATERIALIZED VIEW
REFRESH MATERIALIZED VIEW order_totals
== reject postgres query_not_read_only | LISTEN
LISTEN channel
== reject postgres query_not_read_only | NOTIFY
NOTIFY channel
== reject postgres query_not_read_only | COMMENT ON
COMMENT ON TABLE orders IS 'x'
== reject postgres query_not_read_only | EXPLAIN ANALYZE runs the statement
EXPLAIN ANALYZE DELETE FROM orders
== reject postgres query_not_read_only | ALTER SYSTEM
ALTER SYSTEM SET work_mem = '1GB'
== reject postgres query_not_read_only | CREATE FUNCTION
CREATE FUNCTION f() RETURNS int AS 'SELECT 1' LANGUAGE sql
== reject postgres query_not_read_only | DISCARD
DISCARD ALL
== reject postgres query_not_read_only | CHECKPOINT
CHECKPOINT
== reject postgres query_not_read_only | CLUSTER
CLUSTER orders
== reject postgres query_not_read_only | DEALLOCATE
DEALLOCATE ALL
== reject postgres query_not_read_only | SAVEPOINT
SAVEPOINT s1
== reject postgres query_not_read_only | case and whitespace variation of DELETE
  dElEtE   FROM
 orders
== reject postgres query_not_read_only | DELETE behind a leading comment
/* report */ DELETE FROM orders
== reject postgres query_not_read_only | DELETE after a line comment
-- monthly report
DELETE FROM orders

# ---------------------------------------------------------------- side-effect functions
== reject postgres query_not_read_only | pg_sleep
SELECT pg_sleep(10)
== reject postgres query_not_read_only | schema-qualified pg_sleep
SELECT pg_catalog.pg_sleep(10)
== reject postgres query_not_read_only | pg_sleep in WHERE
SELECT * FROM orders WHERE pg_sleep(1) IS NOT NULL
== reject postgres query_not_read_only | pg_read_file
SELECT pg_read_file('/etc/passwd')
== reject postgres query_not_read_only | pg_ls_dir
SELECT * FROM pg_ls_dir('.')
== reject postgres query_not_read_only | lo_import
SELECT lo_import('/etc/passwd')
== reject postgres query_not_read_only | lo_export
SELECT lo_export(1, '/tmp/x')
== reject postgres query_not_read_only | dblink
SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)
== reject postgres query_not_read_only | dblink_exec
SELECT dblink_exec('dbname=test', 'DELETE FROM orders')
== reject postgres query_not_read_only | nextval advances a sequence
SELECT nextval('orders_id_seq')
== reject postgres query_not_read_only | setval
SELECT setval('orders_id_seq', 1)
== reject postgres query_not_read_only | set_config
SELECT set_config('default_transaction_read_only', 'off', false)
== reject postgres query_not_read_only | pg_terminate_backend
SELECT pg_terminate_backend(-1)
== reject postgres query_not_read_only | pg_cancel_backend
SELECT pg_cancel_backend(-1)
== reject postgres query_not_read_only | pg_reload_conf
SELECT pg_reload_conf()
== reject postgres query_not_read_only | advisory lock
SELECT pg_advisory_lock(42)
== reject postgres query_not_read_only | pg_notify
SELECT pg_notify('channel', 'x')
== reject postgres query_not_read_only | query_to_xml runs arbitrary SQL
SELECT query_to_xml('DELETE FROM orders RETURNING 1', true, false, '')
== reject postgres query_not_read_only | side-effect function in a CTE
WITH s AS (SELECT pg_sleep(5)) SELECT * FROM s
== reject postgres query_not_read_only | unknown user-defined function
SELECT purge_old_orders()
== reject postgres query_not_read_only | unknown function in ORDER BY
SELECT id FROM orders ORDER BY do_something(id)
== reject postgres query_not_read_only | uppercase PG_SLEEP
SELECT PG_SLEEP(1)
== reject postgres query_not_read_only | txid_current assigns a transaction id
SELECT txid_current()
== reject postgres query_not_read_only | pg_stat_reset
SELECT pg_stat_reset()

# ---------------------------------------------------------------- MySQL / MariaDB
== reject mysql query_not_read_only | DELETE
DELETE FROM orders
== reject mysql query_not_read_only | multi-table DELETE
DELETE o FROM orders o JOIN customers c ON c.id = o.customer_id
== reject mysql query_not_read_only | UPDATE
UPDATE orders SET status = 'x' WHERE id = 1
== reject mysql query_not_read_only | INSERT IGNORE
INSERT IGNORE INTO orders (id) VALUES (1)
== reject mysql query_not_read_only | REPLACE
REPLACE INTO orders (id) VALUES (1)
== reject mysql query_not_read_only | INSERT ON DUPLICATE KEY UPDATE
INSERT INTO orders (id) VALUES (1) ON DUPLICATE KEY UPDATE status = 'x'
== reject mysql query_not_read_only | DROP DATABASE
DROP DATABASE shop
== reject mysql query_not_read_only | TRUNCATE TABLE
TRUNCATE TABLE orders
== reject mysql query_not_read_only | RENAME TABLE
RENAME TABLE orders TO orders_old
== reject mysql query_not_read_only | ALTER TABLE
ALTER TABLE orders DROP COLUMN status
== reject mysql query_not_read_only | CREATE TEMPORARY TABLE
CREATE TEMPORARY TABLE t AS SELECT 1
== reject mysql query_not_read_only | INTO OUTFILE
SELECT * FROM orders INTO OUTFILE '/tmp/nlq_guard_outfile'
== reject mysql query_not_read_only | INTO DUMPFILE
SELECT 'x' INTO DUMPFILE '/tmp/nlq_guard_dumpfile'
== reject mysql query_not_read_only | INTO OUTFILE mid-statement
SELECT id INTO OUTFILE '/tmp/nlq_guard_outfile2' FROM orders
== reject mysql query_not_read_only | SELECT INTO variable
SELECT COUNT(*) INTO @n FROM orders
== reject mysql query_not_read_only | variable assignment in a select
SELECT @n := COUNT(*) FROM orders
== reject mysql query_not_read_only | FOR UPDATE
SELECT * FROM orders FOR UPDATE
== reject mysql query_not_read_only | LOCK IN SHARE MODE
SELECT * FROM orders LOCK IN SHARE MODE
== reject mysql query_not_read_only | FOR UPDATE NOWAIT
SELECT * FROM orders FOR UPDATE NOWAIT
== reject mysql query_not_read_only | LOCK TABLES
LOCK TABLES orders WRITE
== reject mysql query_not_read_only | SET
SET SESSION TRANSACTION READ WRITE
== reject mysql query_not_read_only | SET variable
SET @x = 1
== reject mysql query_not_read_only | SLEEP
SELECT SLEEP(5)
== reject mysql query_not_read_only | BENCHMARK
SELECT BENCHMARK(1000000, MD5('x'))
== reject mysql query_not_read_only | LOAD_FILE
SELECT LOAD_FILE('/etc/passwd')
== reject mysql query_not_read_only | GET_LOCK
SELECT GET_LOCK('x', 10)
== reject mysql query_not_read_only | sys_exec UDF
SELECT sys_exec('id')
== reject mysql query_not_read_only | SLEEP in a subquery
SELECT * FROM orders WHERE id = (SELECT SLEEP(1))
== reject mysql query_not_read_only | versioned comment hiding a statement
SELECT 1 /*!50000 ; DROP TABLE orders */
== reject mysql query_not_read_only | versioned comment hiding a function
SELECT id FROM orders WHERE 1 = 1 /*!AND SLEEP(5)*/
== reject mysql query_not_read_only | stacked statements
SELECT 1; DROP TABLE orders
== reject mysql query_not_read_only | stacked after a hash comment line
SELECT 1 # note
; DELETE FROM orders
== reject mysql query_not_read_only | CALL
CALL cleanup()
== reject mysql query_not_read_only | DO
DO SLEEP(5)
== reject mysql query_not_read_only | HANDLER
HANDLER orders OPEN
== reject mysql query_not_read_only | PREPARE
PREPARE s FROM 'DELETE FROM orders'
== reject mysql query_not_read_only | EXECUTE
EXECUTE s
== reject mysql query_not_read_only | LOAD DATA
LOAD DATA INFILE '/tmp/x' INTO TABLE orders
== reject mysql query_not_read_only | FLUSH
FLUSH TABLES
== reject mysql query_not_read_only | KILL
KILL 999999999
== reject mysql query_not_read_only | OPTIMIZE
OPTIMIZE TABLE orders
== reject mysql query_not_read_only | INSTALL PLUGIN
INSTALL PLUGIN x SONAME 'x.so'
== reject mysql query_not_read_only | SHOW is not a query
SHOW TABLES
== reject mysql query_not_read_only | USE
USE mysql
== reject mysql query_not_read_only | START TRANSACTION
START TRANSACTION
== reject mysql query_not_read_only | GRANT
GRANT ALL ON *.* TO 'x'@'%'
== reject mysql query_not_read_only | CREATE USER
CREATE USER 'x'@'%' IDENTIFIED BY 'y'
== reject mysql query_not_read_only | unknown function
SELECT my_udf(1)
== reject mysql query_not_read_only | lower-case delete with odd spacing
delete	from
orders
== reject mysql query_not_read_only | uppercase SLEEP in ORDER BY
SELECT id FROM orders ORDER BY SLEEP(1)

# ---------------------------------------------------------------- SQLite
== reject sqlite query_not_read_only | DELETE
DELETE FROM orders
== reject sqlite query_not_read_only | UPDATE
UPDATE orders SET status = 'x'
== reject sqlite query_not_read_only | INSERT OR REPLACE
INSERT OR REPLACE INTO orders (id) VALUES (1)
== reject sqlite query_not_read_only | REPLACE
REPLACE INTO orders (id) VALUES (1)
== reject sqlite query_not_read_only | DROP TABLE
DROP TABLE orders
== reject sqlite query_not_read_only | CREATE TABLE
CREATE TABLE x (a)
== reject sqlite query_not_read_only | CREATE TRIGGER
CREATE TRIGGER t AFTER INSERT ON orders BEGIN DELETE FROM orders; END
== reject sqlite query_not_read_only | ATTACH
ATTACH DATABASE '/tmp/nlq_guard_attach.db' AS x
== reject sqlite query_not_read_only | DETACH
DETACH DATABASE x
== reject sqlite query_not_read_only | PRAGMA write
PRAGMA writable_schema = 1
== reject sqlite query_not_read_only | PRAGMA query_only off
PRAGMA query_only = 0
== reject sqlite query_not_read_only | PRAGMA read
PRAGMA table_info(orders)
== reject sqlite query_not_read_only | VACUUM INTO
VACUUM INTO '/tmp/nlq_guard_vacuum.db'
== reject sqlite query_not_read_only | REINDEX
REINDEX
== reject sqlite query_not_read_only | ANALYZE
ANALYZE
== reject sqlite query_not_read_only | BEGIN IMMEDIATE
BEGIN IMMEDIATE
== reject sqlite query_not_read_only | SAVEPOINT
SAVEPOINT s
== reject sqlite query_not_read_only | load_extension
SELECT load_extension('/tmp/evil.so')
== reject sqlite query_not_read_only | writefile
SELECT writefile('/tmp/nlq_guard_writefile', 'x')
== reject sqlite query_not_read_only | readfile
SELECT readfile('/etc/passwd')
== reject sqlite query_not_read_only | fts3_tokenizer
SELECT fts3_tokenizer('simple')
== reject sqlite query_not_read_only | stacked statements
SELECT 1; DELETE FROM orders
== reject sqlite query_not_read_only | data-modifying CTE
WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d
== reject sqlite query_not_read_only | unknown function
SELECT evil(1)
== reject sqlite query_not_read_only | DELETE after block comment
/* x */ DELETE /* y */ FROM orders

# ---------------------------------------------------------------- SQL Server
== reject tsql query_not_read_only | DELETE
DELETE FROM orders
== reject tsql query_not_read_only | UPDATE TOP
UPDATE TOP (10) orders SET status = 'x'
== reject tsql query_not_read_only | INSERT
INSERT INTO orders (id) VALUES (1)
== reject tsql query_not_read_only | MERGE
MERGE orders AS t USING staging AS s ON t.id = s.id WHEN MATCHED THEN DELETE;
== reject tsql query_not_read_only | SELECT INTO temp table
SELECT * INTO #tmp FROM orders
== reject tsql query_not_read_only | EXEC xp_cmdshell
EXEC xp_cmdshell 'dir'
== reject tsql query_not_read_only | EXECUTE sp_executesql
EXECUTE sp_executesql N'DELETE FROM orders'
== reject tsql query_not_read_only | EXEC dynamic string
EXEC('DELETE FROM orders')
== reject tsql query_not_read_only | OPENROWSET
SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x;', 'SELECT 1')
== reject tsql query_not_read_only | OPENQUERY
SELECT * FROM OPENQUERY(linked, 'SELECT 1')
== reject tsql query_not_read_only | OPENDATASOURCE
SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=x').db.dbo.t
== reject tsql query_not_read_only | WAITFOR
WAITFOR DELAY '00:00:05'
== reject tsql query_not_read_only | UPDLOCK hint
SELECT * FROM orders WITH (UPDLOCK)
== reject tsql query_not_read_only | TABLOCKX hint
SELECT * FROM orders WITH (TABLOCKX, HOLDLOCK)
== reject tsql query_not_read_only | NEXT VALUE FOR
SELECT NEXT VALUE FOR order_seq
== reject tsql query_not_read_only | BULK INSERT
BULK INSERT orders FROM 'c:\x.csv'
== reject tsql query_not_read_only | DBCC
DBCC CHECKDB
== reject tsql query_not_read_only | SHUTDOWN
SHUTDOWN
== reject tsql query_not_read_only | RECONFIGURE
RECONFIGURE
== reject tsql query_not_read_only | USE
USE master
== reject tsql query_not_read_only | stacked with GO-less batch
SELECT 1; DROP TABLE orders
== reject tsql query_not_read_only | TRUNCATE
TRUNCATE TABLE orders
== reject tsql query_not_read_only | unknown function
SELECT dbo.cleanup()
== reject tsql query_not_read_only | sp_ procedure call as function
SELECT * FROM sp_who()

# ---------------------------------------------------------------- not SQL, or not ours
== reject postgres invalid_query | empty
 
== reject postgres invalid_query | unparseable
SELEC * FROM orders
== reject postgres invalid_query | unbalanced parenthesis
SELECT (1 FROM orders
== reject postgres invalid_query | unterminated string
SELECT 'abc FROM orders
== reject mysql invalid_query | garbage
%%% ;;; !!!
== reject sqlite invalid_query | only a comment
-- nothing here
== reject postgres invalid_request | qmark placeholder
SELECT * FROM orders WHERE id = ?
== reject sqlite invalid_request | named placeholder
SELECT * FROM orders WHERE id = :id
== reject postgres invalid_request | $0 placeholder
SELECT * FROM orders WHERE id = $0

# ---------------------------------------------------------------- issue 16: hostile tenants
== reject mysql query_not_read_only | MariaDB executable comment
SELECT id FROM orders WHERE 1 = 1 /*M! AND SLEEP(5) */
== reject mysql query_not_read_only | versioned MariaDB executable comment
SELECT 1 /*M!100000 , SLEEP(5) */
== reject mysql invalid_query | a hint that hides a comment end inside a string
SELECT /*+ a('*/ SLEEP(5), /*') */ 1
== reject postgres invalid_query | a thousand nested parentheses
SELECT ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))
== reject postgres query_not_read_only | user function named like a built-in
SELECT rt_app.md5(name) FROM customers
== reject postgres query_not_read_only | query string runner
SELECT table_to_xml('customers', true, true, '')
== reject duckdb query_not_read_only | replacement scan of a file
SELECT * FROM 'data.csv'
== reject duckdb query_not_read_only | replacement scan of a quoted path
SELECT * FROM "/etc/passwd"
== reject duckdb query_not_read_only | read_csv table function
SELECT * FROM read_csv('/etc/passwd')
== reject duckdb query_not_read_only | query() runs a query string
SELECT * FROM query('SELECT * FROM customers')
== reject duckdb query_not_read_only | getenv
SELECT getenv('HOME')
== reject duckdb query_not_read_only | COPY to a file
COPY customers TO '/tmp/nlq_guard_out.csv'
== allow duckdb | list functions
SELECT list_sum([1, 2, 3]) AS s, list_avg([1, 2]) AS a
== allow duckdb | struct literal
SELECT {'id': id, 'name': name} AS c FROM customers
== allow duckdb | star exclude
SELECT * EXCLUDE (email) FROM customers
== allow postgres | jsonb_array_length
SELECT jsonb_array_length('[1, 2]'::jsonb) AS n
== allow postgres | built-in qualified with pg_catalog
SELECT pg_catalog.lower(name) FROM customers
== allow mysql | optimizer hint dropped
SELECT /*+ SET_VAR(sort_buffer_size = 16M) */ id FROM orders
