//! Many rows in one statement: `exec_values` and `fetch_values` on both engines, with more
//! rows than one SQLite chunk holds, NULLs, and the mistakes they refuse.

use pitboss_store::{Arg, StoreError, both_engines, exec_values, fetch_values};
use uuid::Uuid;

both_engines!(rows_go_in_and_come_back_whatever_their_number, |db| async move {
    let mut tx = db.begin().await.unwrap();
    pitboss_store::exec!(
        &mut tx,
        "CREATE TABLE scratch_rows (id UUID PRIMARY KEY, kind TEXT NOT NULL, n BIGINT, ok BOOLEAN NOT NULL)"
    )
    .unwrap();
    // 1,200 rows of 4 values: several SQLite chunks, one PostgreSQL statement.
    let ids: Vec<Uuid> = (0..1_200).map(|_| Uuid::now_v7()).collect();
    let rows: Vec<Vec<Arg>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let n = if i % 7 == 0 { None } else { Some(i as i64) };
            vec![Arg::Id(*id), Arg::Text(format!("k{}", i % 3)), Arg::OptInt(n), Arg::Bool(i % 2 == 0)]
        })
        .collect();
    let inserted =
        exec_values(&mut tx, "INSERT INTO scratch_rows (id, kind, n, ok) VALUES {values}", &rows).await.unwrap();
    assert_eq!(inserted, 1_200);

    // Found by two columns at once, the misses ignored.
    let keys: Vec<Vec<Arg>> = ids
        .iter()
        .take(900)
        .enumerate()
        .map(|(i, id)| vec![Arg::Id(*id), Arg::Text(if i < 600 { format!("k{}", i % 3) } else { "other".into() })])
        .collect();
    let mut found: Vec<(Uuid, Option<i64>, bool)> =
        fetch_values(&mut tx, "SELECT id, n, ok FROM scratch_rows WHERE (id, kind) IN (VALUES {values})", &keys)
            .await
            .unwrap();
    found.sort();
    let mut expected: Vec<(Uuid, Option<i64>, bool)> =
        (0..600).map(|i| (ids[i], if i % 7 == 0 { None } else { Some(i as i64) }, i % 2 == 0)).collect();
    expected.sort();
    assert_eq!(found, expected);

    // An update from a VALUES list touches exactly its rows.
    let bumps: Vec<Vec<Arg>> = ids.iter().take(700).map(|id| vec![Arg::Id(*id), Arg::Int(1_000)]).collect();
    let touched = exec_values(
        &mut tx,
        "WITH v (id, extra) AS (VALUES {values}) UPDATE scratch_rows SET n = COALESCE(n, 0) + v.extra FROM v \
         WHERE scratch_rows.id = v.id",
        &bumps,
    )
    .await
    .unwrap();
    assert_eq!(touched, 700);
    let big: Vec<(i64,)> = fetch_values(
        &mut tx,
        "SELECT COUNT(*) FROM scratch_rows WHERE n >= 1000 AND id IN (VALUES {values})",
        &ids.iter().map(|id| vec![Arg::Id(*id)]).collect::<Vec<_>>()[..1],
    )
    .await
    .unwrap();
    assert_eq!(big, vec![(1,)]);

    // No rows: no statement, nothing found.
    let none: Vec<(Uuid,)> =
        fetch_values(&mut tx, "SELECT id FROM scratch_rows WHERE id IN (VALUES {values})", &[]).await.unwrap();
    assert!(none.is_empty());
});

both_engines!(ragged_rows_mixed_columns_and_a_template_without_the_stand_in_are_refused, |db| async move {
    // Refused before anything reaches the database: the table need not exist.
    let mut tx = db.begin().await.unwrap();
    let refused = |r: Result<u64, StoreError>| match r {
        Err(StoreError::Config(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let ragged = vec![vec![Arg::Int(1), Arg::Int(2)], vec![Arg::Int(1)]];
    let m = refused(exec_values(&mut tx, "INSERT INTO scratch_rows (n, ok) VALUES {values}", &ragged).await);
    assert!(m.contains("same number of values"), "{m}");
    let m = refused(exec_values(&mut tx, "INSERT INTO scratch_rows (n) VALUES (1)", &[vec![Arg::Int(1)]]).await);
    assert!(m.contains("VALUES {values}"), "{m}");
    if db.engine() == pitboss_store::Engine::Postgres {
        // Arrays are typed per column: a column must hold one type.
        let mixed = vec![vec![Arg::Int(1)], vec![Arg::Text("x".into())]];
        let m = refused(exec_values(&mut tx, "INSERT INTO scratch_rows (n) VALUES {values}", &mixed).await);
        assert!(m.contains("mixes types"), "{m}");
    }
});
