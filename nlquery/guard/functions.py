"""Which functions a read may call, per sqlglot dialect: the guard's base lists.

A connector adds the facts of its own database on top (``DialectFacts.allowed_functions``
and ``denied_functions`` in :mod:`connectors.base`); the Engine passes them to the
guard. Two lists per dialect:

* ``DENIED``: functions with side effects (files, network, sleeping, locks, sequences,
  configuration, process control, large objects, running other SQL). The deny list
  always wins, even over a source's own allow list.
* ``ALLOWED``: common read-only built-ins that sqlglot does not model (it parses
  them as ``exp.Anonymous``). Any other unknown function is refused: a user-defined
  function can write. A source adds its own read-only functions with
  ``Policy(allowed_functions=...)``.

Functions sqlglot does model (``COUNT``, ``DATE_TRUNC``, ``JSON_EXTRACT``...) are
read-only by construction, except the classes in ``DENIED_EXPRESSIONS``.
"""

from __future__ import annotations

from sqlglot import exp


def _names(text: str) -> frozenset[str]:
    return frozenset(text.lower().split())


# sqlglot expression classes that read files or advance sequences.
DENIED_EXPRESSIONS: tuple[type[exp.Expression], ...] = (
    exp.ReadCSV,
    exp.ReadParquet,
    exp.NextValueFor,
)

_DENIED_EVERYWHERE = _names("""
    sleep benchmark load_file pg_sleep nextval setval
""")

DENIED: dict[str, frozenset[str]] = {
    "postgres": _names("""
        pg_sleep pg_sleep_for pg_sleep_until
        pg_read_file pg_read_binary_file pg_ls_dir pg_ls_logdir pg_ls_waldir pg_ls_tmpdir
        pg_stat_file pg_file_write pg_file_rename pg_file_unlink pg_logdir_ls
        lo_import lo_export lo_create lo_creat lo_unlink lo_put lo_from_bytea lo_open lo_write
        lo_truncate lowrite
        dblink dblink_exec dblink_connect dblink_connect_u dblink_send_query dblink_open
        nextval setval
        set_config pg_reload_conf pg_rotate_logfile pg_promote pg_switch_wal
        pg_create_restore_point pg_start_backup pg_stop_backup pg_backup_start pg_backup_stop
        pg_terminate_backend pg_cancel_backend pg_signal_backend
        pg_advisory_lock pg_advisory_xact_lock pg_advisory_lock_shared
        pg_advisory_xact_lock_shared pg_try_advisory_lock pg_try_advisory_xact_lock
        pg_try_advisory_lock_shared pg_try_advisory_xact_lock_shared pg_advisory_unlock
        pg_advisory_unlock_all pg_advisory_unlock_shared
        pg_notify pg_logical_emit_message pg_create_logical_replication_slot
        pg_create_physical_replication_slot pg_drop_replication_slot pg_replication_origin_create
        pg_logical_slot_get_changes pg_logical_slot_peek_changes
        pg_import_system_collations pg_stat_reset pg_stat_reset_shared
        pg_stat_statements_reset pg_prewarm
        query_to_xml query_to_xmlschema query_to_xml_and_xmlschema cursor_to_xml
        cursor_to_xmlschema txid_current pg_current_xact_id
        table_to_xml table_to_xmlschema table_to_xml_and_xmlschema schema_to_xml
        schema_to_xmlschema schema_to_xml_and_xmlschema database_to_xml
        database_to_xmlschema database_to_xml_and_xmlschema ts_stat ts_rewrite
        pg_get_keywords_query dblink_get_result dblink_fetch
    """),
    "mysql": _names("""
        sleep benchmark load_file
        get_lock release_lock release_all_locks is_free_lock is_used_lock
        master_pos_wait source_pos_wait wait_for_executed_gtid_set wait_until_sql_thread_after_gtids
        sys_exec sys_eval sys_get sys_set lib_mysqludf_sys_info
        nextval lastval setval
    """),
    "sqlite": _names("""
        load_extension writefile readfile edit fts3_tokenizer zipfile sqlar_compress
        sqlar_uncompress fsdir lsmode
    """),
    "duckdb": _names("""
        read_text read_blob read_csv read_csv_auto read_json read_json_auto read_json_objects
        read_ndjson read_ndjson_auto read_parquet parquet_scan parquet_metadata parquet_schema
        sniff_csv glob read_xlsx st_read sqlite_scan postgres_scan mysql_scan duckdb_secrets
        getenv
        query query_table delta_scan iceberg_scan iceberg_metadata iceberg_snapshots
        read_json_auto read_xlsx read_excel parquet_file_metadata parquet_kv_metadata
        sqlite_attach postgres_attach postgres_query mysql_query load_aws_credentials
        setseed
    """),
    "tsql": _names("""
        openrowset openquery opendatasource openxml
        xp_cmdshell xp_regread xp_regwrite xp_dirtree xp_fileexist xp_subdirs
        xp_availablemedia xp_servicecontrol xp_loginconfig xp_ntsec_enumdomains
        sp_executesql sp_oacreate sp_oamethod sp_configure sp_addextendedproc
        sp_send_dbmail sp_start_job
    """),
}

ALLOWED: dict[str, frozenset[str]] = {
    "postgres": _names("""
        age jsonb_build_object json_build_object jsonb_build_array json_build_array
        jsonb_object_keys json_object_keys jsonb_each json_each jsonb_each_text json_each_text
        jsonb_array_elements json_array_elements jsonb_array_elements_text
        json_array_elements_text jsonb_typeof json_typeof jsonb_strip_nulls jsonb_set
        jsonb_insert jsonb_path_query jsonb_path_exists jsonb_pretty to_jsonb to_json
        row_to_json array_to_json json_agg jsonb_agg json_object_agg jsonb_object_agg
        array_length array_position array_positions array_remove array_replace array_cat
        array_append array_prepend array_dims array_upper array_lower cardinality unnest
        string_to_array array_to_string regexp_split_to_array regexp_split_to_table
        regexp_matches regexp_match regexp_count regexp_instr regexp_substr
        initcap split_part translate btrim ltrim rtrim lpad rpad repeat reverse strpos
        position overlay quote_ident quote_literal quote_nullable md5 sha224 sha256 sha384
        sha512 encode decode convert_from convert_to to_hex chr ascii char_length
        octet_length bit_length format concat_ws starts_with
        date_part date_bin justify_days justify_hours justify_interval make_date make_time
        make_timestamp make_timestamptz make_interval clock_timestamp statement_timestamp
        transaction_timestamp timeofday isfinite to_timestamp to_date to_number to_char
        generate_series generate_subscripts width_bucket div mod gcd lcm factorial cbrt
        trunc sign degrees radians pi random scale min_scale trim_scale
        greatest least nullif num_nulls num_nonnulls
        percentile_cont percentile_disc mode bool_and bool_or every bit_and bit_or
        string_agg array_agg corr covar_pop covar_samp regr_slope regr_intercept
        regr_count regr_r2 stddev stddev_pop stddev_samp variance var_pop var_samp
        row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
        last_value nth_value
        current_setting current_schema current_schemas current_database current_catalog
        version pg_typeof pg_column_size pg_relation_size pg_total_relation_size
        pg_table_size pg_indexes_size pg_size_pretty pg_database_size has_table_privilege
        has_column_privilege has_schema_privilege col_description obj_description
        format_type pg_get_expr pg_get_viewdef pg_get_indexdef pg_get_constraintdef
        inet_client_addr host masklen network broadcast family
        similarity word_similarity levenshtein soundex difference metaphone
        st_astext st_distance st_contains st_intersects st_within st_x st_y
        tsvector_to_array to_tsvector to_tsquery plainto_tsquery phraseto_tsquery
        websearch_to_tsquery ts_rank ts_rank_cd ts_headline numnode setweight
        uuid_generate_v4 gen_random_uuid
        jsonb_array_length json_array_length jsonb_path_query_array jsonb_path_query_first
        jsonb_path_match jsonb_path_exists_tz jsonb_path_query_tz jsonb_path_query_array_tz
        jsonb_path_query_first_tz jsonb_path_match_tz jsonb_extract_path
        jsonb_extract_path_text json_extract_path json_extract_path_text jsonb_object
        json_strip_nulls jsonb_set_lax jsonb_populate_record json_populate_record
        jsonb_populate_recordset json_populate_recordset jsonb_to_record json_to_record
        jsonb_to_recordset json_to_recordset json_scalar json_serialize json_array
        json_arrayagg row array_fill array_ndims string_to_table trim_array array_sample
        array_shuffle isempty lower_inc upper_inc lower_inf upper_inf range_merge numrange
        int4range int8range daterange tsrange tstzrange unistr casefold bit_count get_byte
        get_bit parse_ident to_regclass to_regtype date_subtract date_add log1p
        xmlforest xmlagg xmlelement xmlconcat xpath xpath_exists xmlparse xmlserialize
        point box circle area center unaccent crc32 pg_get_userbyid has_database_privilege
        has_function_privilege pg_has_role pg_backend_pid pg_postmaster_start_time
        pg_encoding_to_char
    """),
    "mysql": _names("""
        find_in_set field elt make_set export_set instr locate position lpad rpad
        repeat reverse space strcmp soundex substring_index insert quote ord bin oct hex
        unhex conv format char_length character_length octet_length bit_length
        to_base64 from_base64 md5 sha sha1 sha2 crc32 compress uncompress
        date_add date_sub adddate subdate addtime subtime timediff datediff period_add
        period_diff to_days from_days to_seconds sec_to_time time_to_sec makedate
        maketime yearweek weekday weekofyear dayofweek dayofyear dayname monthname
        now last_day utc_date utc_time utc_timestamp sysdate curtime curdate localtime
        localtimestamp convert_tz get_format timestamp timestampadd microsecond
        json_object json_array json_keys json_contains json_contains_path json_length
        json_depth json_type json_valid json_unquote json_quote json_search
        json_overlaps json_value json_pretty json_arrayagg json_objectagg json_table
        json_merge_patch json_merge_preserve json_set json_insert json_replace json_remove
        inet_aton inet_ntoa inet6_aton inet6_ntoa is_ipv4 is_ipv6
        bit_count bit_and bit_or bit_xor std stddev stddev_pop stddev_samp variance
        var_pop var_samp row_number rank dense_rank percent_rank cume_dist ntile lag lead
        first_value last_value nth_value
        database schema user current_user session_user system_user version
        connection_id found_rows row_count last_insert_id charset collation coercibility
        weight_string any_value isnull interval greatest least nullif truncate mod rand
        uuid uuid_to_bin bin_to_uuid regexp_like regexp_instr regexp_substr regexp_replace
        unix_timestamp format_bytes format_pico_time json_storage_size json_schema_valid
    """),
    "sqlite": _names("""
        julianday unixepoch printf format total instr substr substring hex unhex quote
        zeroblob randomblob unicode char glob likely unlikely likelihood ifnull iif
        nullif typeof changes total_changes last_insert_rowid sqlite_version
        json json_array json_object json_extract json_insert json_replace json_set
        json_remove json_patch json_type json_valid json_quote json_array_length
        json_group_array json_group_object json_each json_tree
        row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
        last_value nth_value group_concat string_agg soundex ltrim rtrim trim
        sign ceil ceiling floor ln log log2 log10 exp pow power sqrt mod pi
        sin cos tan asin acos atan atan2 degrees radians
        date time datetime strftime timediff
        jsonb jsonb_array jsonb_object jsonb_extract jsonb_insert jsonb_replace jsonb_set
        jsonb_remove jsonb_patch jsonb_group_array jsonb_group_object json_pretty
        json_error_position octet_length median
    """),
    "tsql": _names("""
        charindex patindex stuff replicate space quotename soundex difference
        string_split string_escape translate concat_ws format formatmessage
        datefromparts datetimefromparts datetime2fromparts timefromparts eomonth
        datename datepart datediff_big switchoffset todatetimeoffset sysdatetime
        sysutcdatetime sysdatetimeoffset getutcdate current_timestamp
        isnumeric isdate try_convert try_cast try_parse parse choose iif
        json_value json_query json_modify isjson openjson
        row_number rank dense_rank ntile lag lead first_value last_value percent_rank
        cume_dist percentile_cont percentile_disc
        db_name schema_name object_name object_id user_name suser_sname host_name
        newid checksum binary_checksum hashbytes compress decompress
        square sign power exp log log10 floor ceiling round abs rand
        datalength stdevp var varp checksum_agg nchar date_bucket string_agg count_big
        greatest least
    """),
    "duckdb": _names("""
        list_sum list_avg list_min list_max list_count list_cat list_concat list_position
        list_extract list_element list_slice list_unique list_distinct list_sort
        list_reverse_sort list_apply list_reduce list_aggregate list_aggr list_any_value
        list_has_all list_zip list_select list_where list_grade_up list_resize list_reverse
        list_first list_last list_product list_string_agg list_inner_product
        list_cosine_similarity list_value list_pack array_value array_extract array_transform
        array_reduce array_cosine_similarity array_distance array_inner_product
        strlen regexp_split_to_array suffix prefix hash printf damerau_levenshtein jaccard
        jaro_similarity hamming mismatches json_array_length json_valid json_structure
        json_quote json_merge_patch json_group_array json_group_object json_transform
        to_json json json_value json_exists json_contains json_keys json_type
        struct_insert struct_concat row map_values map_keys map_extract map_entries
        map_from_entries element_at cardinality date_part datepart date_sub try_strptime
        now age yearweek weekday isoyear era century decade millennium histogram fsum favg
        entropy product gcd lcm even isfinite bit_count octet_length ord
        current_setting union_value union_extract union_tag enum_range enum_first enum_last
        enum_code bin from_binary sum_no_overflow nfc_normalize strip_accents
        row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value
        last_value nth_value generate_series range unnest
    """),
}

# Schemas whose functions are the database's own built-ins: ``pg_catalog.lower(x)`` is
# checked like ``lower(x)``; any other qualifier names a user-defined function, which
# needs the source's ``allowed_functions`` whatever built-in it is named after.
SYSTEM_SCHEMAS = _names("pg_catalog information_schema sys main")

# SQL Server table hints that take locks (NOLOCK, INDEX(...) and the like are fine).
LOCKING_TABLE_HINTS = _names("""
    updlock xlock holdlock tablock tablockx paglock rowlock serializable repeatableread
""")


def is_denied(name: str, dialect: str, extra: frozenset[str] = frozenset()) -> bool:
    """True for a side-effect function in ``dialect`` (case-insensitive, unqualified);
    ``extra``: the connector's own denied functions (lowercase)."""
    lowered = name.lower()
    return (
        lowered in DENIED.get(dialect, frozenset())
        or lowered in extra
        or lowered in _DENIED_EVERYWHERE
        or (dialect == "tsql" and lowered.startswith(("xp_", "sp_")))
    )


def is_known_read_only(name: str, dialect: str, extra: frozenset[str] = frozenset()) -> bool:
    """True for a read-only built-in of ``dialect`` that sqlglot parses as unknown;
    ``extra``: the connector's own read-only functions (lowercase)."""
    lowered = name.lower()
    return lowered in ALLOWED.get(dialect, frozenset()) or lowered in extra
