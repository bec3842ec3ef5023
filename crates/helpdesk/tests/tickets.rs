//! Tickets on both engines: numbering, routing and round-robin assignment, replies and the
//! status cycle with its figures (first response, handling time, reopens), the SLA clock
//! standing still while the ticket waits on the player, conflicting changes, merging, bulk
//! changes, the queue's filters, and the SLA timers warning and escalating at their due time.

use chrono::{DateTime, Duration, Utc};
use pitboss_bus::timers;
use pitboss_core::time::{from_micros, to_micros};
use pitboss_helpdesk::escalation::{SlaTimers, TIMER};
use pitboss_helpdesk::queues::{self, Assignment, Member, Queue, RouteField};
use pitboss_helpdesk::tickets::{self, NewTicket, TicketFilter};
use pitboss_helpdesk::{
    AgentMessage, Channel, DeskConfig, HelpdeskError, MessageKind, Priority, Status, Ticket, TicketUpdate,
};
use pitboss_players::{NewPlayer, Player};
use pitboss_store::{Db, both_engines, db, sqlx};
use std::sync::Arc;

/// Open round the clock in UTC, so due times are plain arithmetic; a breach raises the
/// priority and moves the ticket to the escalations queue.
fn desk() -> DeskConfig {
    let days: String = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        .iter()
        .map(|d| format!("{d} = [\"00:00-24:00\"]\n"))
        .collect();
    DeskConfig::from_toml(&format!(
        r#"
default_queue = "support"
[calendar]
time_zone = "UTC"
{days}
[sla]
warn_before_percent = 75
[sla.targets]
low = {{ first_response_minutes = 1440, resolution_minutes = 4320 }}
normal = {{ first_response_minutes = 240, resolution_minutes = 1440 }}
high = {{ first_response_minutes = 60, resolution_minutes = 480 }}
urgent = {{ first_response_minutes = 30, resolution_minutes = 240 }}
[sla.vip.gold]
normal = {{ first_response_minutes = 60, resolution_minutes = 480 }}
[escalation]
raise_priority = true
reassign_to = "escalations"
"#
    ))
    .unwrap()
}

/// Now, to the microsecond the store keeps.
fn now() -> DateTime<Utc> {
    from_micros(to_micros(Utc::now()))
}

async fn setup(db: &Db, desk: &DeskConfig) {
    let now = now();
    queues::install_default(db, desk, now).await.unwrap();
    let mut tx = db.begin().await.unwrap();
    let team = |agents: &[(&str, &[&str])]| {
        agents
            .iter()
            .map(|(a, l)| Member { agent: a.to_string(), languages: l.iter().map(|x| x.to_string()).collect() })
            .collect()
    };
    let german = Queue {
        key: "german".into(),
        name: "German speakers".into(),
        description: String::new(),
        members: team(&[("anna", &["de"]), ("bernd", &["de"])]),
        assignment: Assignment::RoundRobin,
    };
    queues::save(&mut tx, &german, now).await.unwrap();
    let escalations = Queue {
        key: "escalations".into(),
        name: "Escalations".into(),
        description: "Team leads".into(),
        members: team(&[("lead", &[])]),
        assignment: Assignment::RoundRobin,
    };
    queues::save(&mut tx, &escalations, now).await.unwrap();
    queues::add_rule(&mut tx, 10, RouteField::Language, "de", "german", now).await.unwrap();
    tx.commit().await.unwrap();
}

async fn player(db: &Db, language: &str, vip: &str) -> Player {
    let mut new = NewPlayer::new(&format!("ext-{}", uuid::Uuid::now_v7()), "MT", "EUR".parse().unwrap());
    new.language = Some(language.into());
    new.email = Some(format!("p{}@example.com", uuid::Uuid::now_v7().simple()));
    let mut tx = db.begin().await.unwrap();
    let mut p = pitboss_players::create(&mut tx, new, Utc::now()).await.unwrap();
    pitboss_store::exec!(&mut tx, "UPDATE players SET vip_tier = $1 WHERE id = $2", vip, p.id).unwrap();
    tx.commit().await.unwrap();
    p.vip_tier = vip.into();
    p
}

fn asking(p: &Player, subject: &str, priority: Priority) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        player: Some(p.clone()),
        requester: String::new(),
        channel: Channel::Email,
        priority,
        tags: vec!["Payments".into()],
        body: "Where is my withdrawal?".into(),
        first_kind: MessageKind::Player,
        author: String::new(),
        received_at: None,
        email_message_id: None,
        language: None,
    }
}

async fn open(db: &Db, desk: &DeskConfig, new: &NewTicket, now: DateTime<Utc>) -> Ticket {
    let mut tx = db.begin().await.unwrap();
    let t = tickets::create(&mut tx, desk, new, "test", now).await.unwrap();
    tx.commit().await.unwrap();
    t
}

async fn change(
    db: &Db,
    desk: &DeskConfig,
    id: uuid::Uuid,
    c: TicketUpdate,
    now: DateTime<Utc>,
) -> Result<Ticket, HelpdeskError> {
    let mut tx = db.begin().await.unwrap();
    let t = tickets::update(&mut tx, desk, id, &c, "agent", now).await;
    if t.is_ok() {
        tx.commit().await.unwrap();
    }
    t
}

async fn write(
    db: &Db,
    desk: &DeskConfig,
    id: uuid::Uuid,
    kind: MessageKind,
    then: Option<Status>,
    now: DateTime<Utc>,
) -> Ticket {
    let mut tx = db.begin().await.unwrap();
    let m = AgentMessage { kind, body: "We are on it.".into(), then };
    let (t, _) = tickets::reply(&mut tx, desk, id, &m, "anna", now).await.unwrap();
    tx.commit().await.unwrap();
    t
}

async fn player_writes(db: &Db, desk: &DeskConfig, id: uuid::Uuid, now: DateTime<Utc>) -> Ticket {
    let mut tx = db.begin().await.unwrap();
    let (t, _) =
        tickets::player_message(&mut tx, desk, id, MessageKind::Player, "Still nothing.", None, now).await.unwrap();
    tx.commit().await.unwrap();
    t
}

both_engines!(routes_assigns_and_numbers, |db| async move {
    let desk = desk();
    setup(&db, &desk).await;
    let now = now();
    let (de, en) = (player(&db, "de", "").await, player(&db, "en", "gold").await);
    let first = open(&db, &desk, &asking(&de, "Auszahlung", Priority::Normal), now).await;
    let second = open(&db, &desk, &asking(&de, "Bonus", Priority::Normal), now).await;
    let third = open(&db, &desk, &asking(&de, "Konto", Priority::Normal), now).await;
    assert_eq!((first.queue.as_str(), second.queue.as_str()), ("german", "german"));
    assert_eq!(
        [first.assignee.as_deref(), second.assignee.as_deref(), third.assignee.as_deref()],
        [Some("anna"), Some("bernd"), Some("anna")],
        "round robin within the team"
    );
    assert_eq!(first.status, Status::Open, "an assigned ticket is open");
    assert_eq!((second.number, third.number), (first.number + 1, first.number + 2));
    assert_eq!(first.tags, vec!["payments"]);
    assert_eq!(first.requester, de.email.clone().unwrap(), "the requester defaults to the player's email");

    let vip = open(&db, &desk, &asking(&en, "Withdrawal", Priority::Normal), now).await;
    assert_eq!((vip.queue.as_str(), vip.assignee.clone(), vip.status), ("support", None, Status::New));
    assert_eq!(vip.first_response_due, Some(now + Duration::minutes(60)), "gold players' tighter target");
    assert_eq!(first.first_response_due, Some(now + Duration::minutes(240)));
    assert_eq!(first.resolution_due, Some(now + Duration::minutes(1440)));
    let created: i64 =
        db!(&db, |c| sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'helpdesk.ticket.created'")
            .fetch_one(c)
            .await)
        .unwrap();
    assert_eq!(created, 4);

    let mut bad = asking(&de, "  ", Priority::Normal);
    let mut tx = db.begin().await.unwrap();
    let e = tickets::create(&mut tx, &desk, &bad, "test", now).await.unwrap_err();
    assert!(e.to_string().starts_with("subject:"), "{e}");
    bad.subject = "ok".into();
    bad.received_at = Some(now + Duration::minutes(5));
    let e = tickets::create(&mut tx, &desk, &bad, "test", now).await.unwrap_err();
    assert!(e.to_string().contains("future"), "{e}");
    bad.received_at = None;
    bad.tags = vec!["no spaces please".into()];
    let e = tickets::create(&mut tx, &desk, &bad, "test", now).await.unwrap_err();
    assert!(e.to_string().starts_with("tags:"), "{e}");
});

both_engines!(the_status_cycle_keeps_its_figures, |db| async move {
    let desk = desk();
    setup(&db, &desk).await;
    let t0 = now();
    let p = player(&db, "de", "").await;
    let t = open(&db, &desk, &asking(&p, "Auszahlung", Priority::Normal), t0).await;
    // An internal note is no response.
    let t = write(&db, &desk, t.id, MessageKind::Note, None, t0 + Duration::minutes(10)).await;
    assert_eq!(t.first_response_at, None);
    // The reply 30 minutes in is the first response; the ticket now waits on the player.
    let t = write(&db, &desk, t.id, MessageKind::Reply, None, t0 + Duration::minutes(30)).await;
    assert_eq!(t.first_response_at, Some(t0 + Duration::minutes(30)));
    assert_eq!((t.status, t.handling_seconds), (Status::Pending, 30 * 60));
    assert_eq!(t.resolution_due, None, "the clock stands still while the ticket waits on the player");
    // The player answers two hours later: the resolution is due two hours later than it was.
    let t = player_writes(&db, &desk, t.id, t0 + Duration::minutes(150)).await;
    assert_eq!(t.status, Status::Open);
    assert_eq!(t.resolution_due, Some(t0 + Duration::minutes(1440 + 120)));
    let t = change(
        &db,
        &desk,
        t.id,
        TicketUpdate { status: Some(Status::Solved), ..Default::default() },
        t0 + Duration::minutes(160),
    )
    .await
    .unwrap();
    assert_eq!((t.solved_at, t.handling_seconds), (Some(t0 + Duration::minutes(160)), 40 * 60));
    // The player is not satisfied: a reopen.
    let t = player_writes(&db, &desk, t.id, t0 + Duration::minutes(200)).await;
    assert_eq!((t.status, t.reopen_count, t.solved_at), (Status::Open, 1, None));
    let closing = TicketUpdate { status: Some(Status::Closed), ..Default::default() };
    let e = change(&db, &desk, t.id, closing.clone(), t0 + Duration::minutes(201)).await.unwrap_err();
    assert!(e.to_string().contains("solve the ticket before closing"), "{e}");
    change(
        &db,
        &desk,
        t.id,
        TicketUpdate { status: Some(Status::Solved), ..Default::default() },
        t0 + Duration::minutes(210),
    )
    .await
    .unwrap();
    let t = change(&db, &desk, t.id, closing, t0 + Duration::minutes(220)).await.unwrap();
    assert_eq!(t.status, Status::Closed);
    let clock = t.sla(&desk, t0 + Duration::days(3));
    assert_eq!(clock.first_response.met, Some(true));
    assert_eq!(clock.resolution.met, Some(true));
    assert_eq!(timers::due_at(&db, TIMER, &t.id.to_string()).await.unwrap(), None, "nothing ahead of a closed ticket");
    let mut tx = db.begin().await.unwrap();
    let m = AgentMessage { kind: MessageKind::Reply, body: "hello?".into(), then: None };
    let e = tickets::reply(&mut tx, &desk, t.id, &m, "anna", t0 + Duration::minutes(230)).await.unwrap_err();
    assert!(matches!(e, HelpdeskError::Refused(_)), "{e}");
    drop(tx);

    let history: Vec<String> = tickets::history(&db, t.id).await.unwrap().into_iter().map(|c| c.what).collect();
    assert_eq!(history.first().map(String::as_str), Some("created"));
    assert_eq!(history.iter().filter(|w| *w == "status").count(), 6, "{history:?}");
    let public = tickets::messages(&db, t.id, false).await.unwrap();
    assert!(public.iter().all(|m| m.kind != MessageKind::Note), "notes stay internal");
    assert_eq!(tickets::messages(&db, t.id, true).await.unwrap().len(), public.len() + 1);
});

both_engines!(changes_are_safe_merged_and_bulk, |db| async move {
    let desk = desk();
    setup(&db, &desk).await;
    let now = now();
    let p = player(&db, "en", "").await;
    let other = player(&db, "en", "").await;
    let a = open(&db, &desk, &asking(&p, "Bonus missing", Priority::Low), now).await;
    let b = open(&db, &desk, &asking(&p, "Bonus missing again", Priority::Normal), now).await;
    let c = open(&db, &desk, &asking(&other, "Login", Priority::Normal), now).await;

    // Two agents read version 1; the second change is refused, not lost.
    let up = |v| TicketUpdate { priority: Some(Priority::High), expected_version: Some(v), ..Default::default() };
    change(&db, &desk, a.id, up(a.version), now).await.unwrap();
    let e = change(&db, &desk, a.id, up(a.version), now).await.unwrap_err();
    assert!(matches!(e, HelpdeskError::Conflict(_)), "{e}");

    let mut tx = db.begin().await.unwrap();
    let e = tickets::merge(&mut tx, &desk, c.id, a.id, "agent", now).await.unwrap_err();
    assert!(e.to_string().contains("different players"), "{e}");
    let kept = tickets::merge(&mut tx, &desk, b.id, a.id, "agent", now).await.unwrap();
    tx.commit().await.unwrap();
    let merged = tickets::get(&db, b.id).await.unwrap();
    assert_eq!((merged.status, merged.merged_into), (Status::Closed, Some(a.id)));
    let messages = tickets::messages(&db, kept.id, true).await.unwrap();
    assert_eq!(messages.len(), 3, "both first messages and the merge note");
    assert!(messages.iter().any(|m| m.body.contains(&format!("#{}", b.number))));

    // Bulk: all or none, the refusal naming the ticket.
    let assign = TicketUpdate { assignee: Some(Some("carl".into())), ..Default::default() };
    let mut tx = db.begin().await.unwrap();
    let e = tickets::bulk_update(&mut tx, &desk, &[a.id, b.id, c.id], &assign, "agent", now).await.unwrap_err();
    assert!(e.to_string().contains(&format!("#{}", b.number)), "{e}");
    drop(tx);
    assert_eq!(tickets::get(&db, a.id).await.unwrap().assignee, None, "nothing of a refused bulk change stays");
    let mut tx = db.begin().await.unwrap();
    let done = tickets::bulk_update(&mut tx, &desk, &[a.id, c.id], &assign, "agent", now).await.unwrap();
    tx.commit().await.unwrap();
    assert!(done.iter().all(|t| t.assignee.as_deref() == Some("carl") && t.status == Status::Open));

    // The queue's filters.
    let of = |f: TicketFilter| {
        let db = db.clone();
        async move { tickets::list(&db, &f, 50, 0).await.unwrap().into_iter().map(|t| t.number).collect::<Vec<_>>() }
    };
    assert_eq!(
        of(TicketFilter { assignee: Some(Some("carl".into())), ..Default::default() }).await,
        vec![a.number, c.number]
    );
    assert_eq!(of(TicketFilter { text: Some("LOGIN".into()), ..Default::default() }).await, vec![c.number]);
    assert_eq!(of(TicketFilter { player: Some(p.id), ..Default::default() }).await, vec![a.number]);
    assert_eq!(of(TicketFilter { statuses: vec![Status::Closed], ..Default::default() }).await, vec![b.number]);
    assert_eq!(of(TicketFilter { tag: Some("payments".into()), ..Default::default() }).await.len(), 2);
    assert_eq!(of(TicketFilter { brands: Some(vec!["other".into()]), ..Default::default() }).await, Vec::<i64>::new());
});

both_engines!(sla_timers_warn_and_escalate_at_their_time, |db| async move {
    let desk = desk();
    setup(&db, &desk).await;
    let now = now();
    let p = player(&db, "en", "").await;
    let handler = SlaTimers::new(Arc::new(desk.clone()));
    let t = open(&db, &desk, &asking(&p, "Withdrawal stuck", Priority::Normal), now).await;
    let key = t.id.to_string();
    // Warned when three quarters of the 240 minutes are used: at 180.
    assert_eq!(timers::due_at(&db, TIMER, &key).await.unwrap(), Some(to_micros(now + Duration::minutes(180))));
    let fired =
        timers::fire_due(&db, TIMER, handler.as_ref(), to_micros(now + Duration::minutes(179)), 10).await.unwrap();
    assert_eq!(fired, 0, "nothing before its time");
    timers::fire_due(&db, TIMER, handler.as_ref(), to_micros(now + Duration::minutes(181)), 10).await.unwrap();
    let warned = tickets::get(&db, t.id).await.unwrap();
    assert_eq!(warned.sla_marks, vec!["first_response.warned"]);
    assert_eq!(warned.priority, Priority::Normal, "a warning does not escalate");
    assert_eq!(timers::due_at(&db, TIMER, &key).await.unwrap(), Some(to_micros(now + Duration::minutes(240))));

    // The breach: the priority goes up, the ticket moves to the escalations queue and its agent.
    timers::fire_due(&db, TIMER, handler.as_ref(), to_micros(now + Duration::minutes(241)), 10).await.unwrap();
    let escalated = tickets::get(&db, t.id).await.unwrap();
    assert!(escalated.marked("first_response.breached"), "{:?}", escalated.sla_marks);
    assert_eq!(escalated.priority, Priority::High);
    assert_eq!((escalated.queue.as_str(), escalated.assignee.as_deref()), ("escalations", Some("lead")));
    assert!(escalated.breached());
    let history: Vec<String> = tickets::history(&db, t.id).await.unwrap().into_iter().map(|c| c.what).collect();
    for what in ["sla.warned", "sla.breached", "priority", "queue", "escalated"] {
        assert!(history.iter().any(|h| h == what), "{what} missing from {history:?}");
    }
    let notes = tickets::messages(&db, t.id, true).await.unwrap();
    assert!(notes.iter().any(|m| m.author == "sla" && m.body.contains("first response overdue")), "{notes:?}");
    let topics: Vec<String> =
        db!(&db, |c| sqlx::query_scalar("SELECT topic FROM outbox WHERE topic LIKE 'helpdesk.sla.%' ORDER BY id")
            .fetch_all(c)
            .await)
        .unwrap();
    assert_eq!(topics, vec!["helpdesk.sla.warning", "helpdesk.sla.breached"]);
    let breached = tickets::list(&db, &TicketFilter { breached: true, ..Default::default() }, 10, 0).await.unwrap();
    assert_eq!(breached.iter().map(|t| t.id).collect::<Vec<_>>(), vec![t.id]);

    // A ticket that came in hours ago (a mail read late) is breached at once, and a reply then
    // settles the first response: its timer moves on to the resolution.
    let mut late = asking(&p, "Old mail", Priority::Urgent);
    late.received_at = Some(now - Duration::hours(2));
    let old = open(&db, &desk, &late, now).await;
    assert!(timers::due_at(&db, TIMER, &old.id.to_string()).await.unwrap().unwrap() <= to_micros(now));
    timers::fire_due(&db, TIMER, handler.as_ref(), to_micros(now), 10).await.unwrap();
    let old = tickets::get(&db, old.id).await.unwrap();
    assert!(old.marked("first_response.breached"));
    assert_eq!(old.priority, Priority::Urgent, "urgent is as high as it goes");
    let answered = write(&db, &desk, old.id, MessageKind::Reply, Some(Status::Open), now).await;
    assert_eq!(answered.sla(&desk, now).first_response.met, Some(false), "answered, but late");
    // The resolution's warning, at 180 of its 240 minutes counted from two hours ago, is next.
    assert!(!old.marked("resolution.warned"), "{:?}", old.sla_marks);
    let next = timers::due_at(&db, TIMER, &old.id.to_string()).await.unwrap();
    assert_eq!(next, Some(to_micros(now + Duration::hours(1))));
});
