//! The knowledge base on both engines: drafts and published versions (the public keeps seeing
//! the published text while a draft is worked on), the history of versions, archiving,
//! conflicting saves, full-text search on each engine's own index (ranked, with snippets, by
//! language and category, drafts for agents only), suggestions from a ticket's text, and the
//! validation of what is saved.

use chrono::{DateTime, Utc};
use pitboss_core::time::{from_micros, to_micros};
use pitboss_helpdesk::kb::{self, ArticleFilter, ArticleState, Audience, Draft, NewArticle, Saved};
use pitboss_helpdesk::tickets::{self, NewTicket};
use pitboss_helpdesk::{Channel, DeskConfig, HelpdeskError, MessageKind, Priority, Ticket, queues};
use pitboss_store::{Db, both_engines};

fn now() -> DateTime<Utc> {
    from_micros(to_micros(Utc::now()))
}

fn article(slug: &str, language: &str, category: &str, title: &str, body: &str) -> NewArticle {
    NewArticle {
        slug: slug.into(),
        language: language.into(),
        category: category.into(),
        title: title.into(),
        body: body.into(),
    }
}

async fn create(db: &Db, new: NewArticle) -> Result<Saved, HelpdeskError> {
    let mut tx = db.begin().await.unwrap();
    let saved = kb::create(&mut tx, &new, "operator:edna", now()).await?;
    tx.commit().await.unwrap();
    Ok(saved)
}

async fn edit(db: &Db, id: uuid::Uuid, title: &str, body: &str, base: Option<i64>) -> Result<Saved, HelpdeskError> {
    let mut tx = db.begin().await.unwrap();
    let draft = Draft { category: "Payments".into(), title: title.into(), body: body.into(), base_version: base };
    let saved = kb::save_draft(&mut tx, id, &draft, "operator:edna", now()).await?;
    tx.commit().await.unwrap();
    Ok(saved)
}

async fn publish(db: &Db, id: uuid::Uuid, version: Option<i64>) -> Result<Saved, HelpdeskError> {
    let mut tx = db.begin().await.unwrap();
    let saved = kb::publish(&mut tx, id, version, "operator:edna", now()).await?;
    tx.commit().await.unwrap();
    Ok(saved)
}

async fn archive(db: &Db, id: uuid::Uuid) -> Result<Saved, HelpdeskError> {
    let mut tx = db.begin().await.unwrap();
    let saved = kb::archive(&mut tx, id, "operator:edna", now()).await?;
    tx.commit().await.unwrap();
    Ok(saved)
}

/// A search as `audience` makes it: the titles found, best first.
async fn titles(db: &Db, q: &str, audience: Audience, language: Option<&str>) -> Vec<String> {
    let filter = ArticleFilter { q: Some(q.into()), language: language.map(Into::into), ..Default::default() };
    kb::list(db, &filter, audience).await.unwrap().items.into_iter().map(|a| a.title).collect()
}

both_engines!(the_public_sees_the_published_version_while_a_draft_is_worked_on, |db| async move {
    let first = create(
        &db,
        article(
            "withdrawal-times",
            "en",
            "Payments",
            "How long does a withdrawal take?",
            "Withdrawals are paid within **two days**.",
        ),
    )
    .await
    .unwrap();
    assert_eq!((first.state, first.version), (ArticleState::Draft, 1));

    // A draft is the agents' only.
    let public = kb::list(&db, &ArticleFilter::default(), Audience::Public).await.unwrap();
    assert!(public.items.is_empty(), "{public:?}");
    assert!(matches!(kb::published(&db, "withdrawal-times", None).await, Err(HelpdeskError::ArticleNotFound(_))));
    let agents = kb::list(&db, &ArticleFilter::default(), Audience::Agents).await.unwrap();
    assert_eq!(agents.items.len(), 1);
    assert_eq!(agents.items[0].state, ArticleState::Draft);

    let live = publish(&db, first.id, None).await.unwrap();
    assert_eq!((live.state, live.version), (ArticleState::Published, 1));
    let faq = kb::published(&db, "withdrawal-times", Some("en")).await.unwrap();
    assert_eq!(faq.title, "How long does a withdrawal take?");
    assert!(faq.body_html.contains("<strong>two days</strong>"), "{}", faq.body_html);

    // Editing saves version 2 as a draft: the FAQ still shows version 1.
    let second =
        edit(&db, first.id, "How long do withdrawals take?", "Withdrawals are paid within **one day**.", Some(1))
            .await
            .unwrap();
    assert_eq!((second.state, second.version), (ArticleState::Published, 2));
    let faq = kb::published(&db, "withdrawal-times", Some("en")).await.unwrap();
    assert_eq!((faq.version, faq.title.as_str()), (1, "How long does a withdrawal take?"));
    assert_eq!(titles(&db, "withdrawal", Audience::Public, None).await, ["How long does a withdrawal take?"]);
    let a = kb::get(&db, first.id).await.unwrap();
    assert_eq!(a.published.as_ref().map(|v| v.version), Some(1));
    assert_eq!(a.draft.as_ref().map(|v| (v.version, v.title.as_str())), Some((2, "How long do withdrawals take?")));
    assert_eq!(a.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);
    assert!(a.versions[1].published_at.is_some() && a.versions[0].published_at.is_none());
    assert_eq!(kb::find(&db, "withdrawal-times", "en").await.unwrap().id, first.id);

    // A save from a stale base is refused; so is publishing a version that is not the latest.
    let stale = edit(&db, first.id, "Old", "Text", Some(1)).await.unwrap_err();
    assert!(matches!(stale, HelpdeskError::Conflict(_)), "{stale}");
    let stale = publish(&db, first.id, Some(1)).await.unwrap_err();
    assert!(matches!(stale, HelpdeskError::Conflict(_)), "{stale}");

    // Publishing the draft puts version 2 up; publishing again has nothing to do.
    publish(&db, first.id, Some(2)).await.unwrap();
    let faq = kb::published(&db, "withdrawal-times", None).await.unwrap();
    assert_eq!((faq.version, faq.title.as_str()), (2, "How long do withdrawals take?"));
    assert!(faq.body_html.contains("one day"));
    let again = publish(&db, first.id, None).await.unwrap_err();
    assert!(matches!(again, HelpdeskError::Refused(_)), "{again}");
    let a = kb::get(&db, first.id).await.unwrap();
    assert!(a.draft.is_none());
    // The old text is no longer found by anybody.
    assert!(titles(&db, "does", Audience::Public, None).await.is_empty());
    assert!(titles(&db, "does", Audience::Agents, None).await.is_empty());

    // Archiving takes it down for the public; agents still find it when they ask for archived.
    let down = archive(&db, first.id).await.unwrap();
    assert_eq!(down.state, ArticleState::Archived);
    assert!(matches!(kb::published(&db, "withdrawal-times", None).await, Err(HelpdeskError::ArticleNotFound(_))));
    assert!(titles(&db, "withdrawals", Audience::Public, None).await.is_empty());
    assert!(titles(&db, "withdrawals", Audience::Agents, None).await.is_empty());
    let archived =
        ArticleFilter { q: Some("withdrawals".into()), state: Some(ArticleState::Archived), ..Default::default() };
    assert_eq!(kb::list(&db, &archived, Audience::Agents).await.unwrap().items.len(), 1);
    assert!(matches!(archive(&db, first.id).await, Err(HelpdeskError::Refused(_))));
    let a = kb::get(&db, first.id).await.unwrap();
    assert_eq!((a.published.is_none(), a.draft.as_ref().map(|d| d.version)), (true, Some(2)));
    // Publishing again puts the latest version back.
    let back = publish(&db, first.id, None).await.unwrap();
    assert_eq!((back.state, back.version), (ArticleState::Published, 2));
    assert_eq!(kb::published(&db, "withdrawal-times", None).await.unwrap().version, 2);
});

both_engines!(slugs_are_one_per_language_and_the_faq_falls_back_to_english, |db| async move {
    let en = create(&db, article("deposit-methods", "en", "Payments", "Deposit methods", "Cards and wallets."))
        .await
        .unwrap();
    let de = create(&db, article("deposit-methods", "de", "Zahlungen", "Einzahlungsmethoden", "Karten und Wallets."))
        .await
        .unwrap();
    let taken = create(&db, article("deposit-methods", "en", "Payments", "Again", "x")).await.unwrap_err();
    assert!(matches!(taken, HelpdeskError::Conflict(_)), "{taken}");
    publish(&db, en.id, None).await.unwrap();
    publish(&db, de.id, None).await.unwrap();
    assert_eq!(kb::published(&db, "deposit-methods", Some("de")).await.unwrap().title, "Einzahlungsmethoden");
    let fr = kb::published(&db, "deposit-methods", Some("fr")).await.unwrap();
    assert_eq!((fr.language.as_str(), fr.title.as_str()), ("en", "Deposit methods"));
    assert_eq!(kb::published(&db, "deposit-methods", None).await.unwrap().language, "en");
    let bad = kb::published(&db, "deposit-methods", Some("xx")).await.unwrap_err();
    assert!(matches!(bad, HelpdeskError::Invalid { field: "language", .. }), "{bad}");
    assert!(matches!(kb::published(&db, "no-such-thing", None).await, Err(HelpdeskError::ArticleNotFound(_))));
    let unknown = uuid::Uuid::now_v7();
    assert!(matches!(kb::get(&db, unknown).await, Err(HelpdeskError::ArticleNotFound(_))));
    assert!(matches!(edit(&db, unknown, "T", "B", None).await, Err(HelpdeskError::ArticleNotFound(_))));
    assert!(matches!(publish(&db, unknown, None).await, Err(HelpdeskError::ArticleNotFound(_))));
    assert!(matches!(archive(&db, unknown).await, Err(HelpdeskError::ArticleNotFound(_))));
});

both_engines!(search_ranks_with_the_engines_index_and_quotes_the_match, |db| async move {
    let articles = [
        (
            "withdrawal-times",
            "en",
            "Payments",
            "How long does a withdrawal take?",
            "Withdrawals are paid within two days once the cashier approved them.",
        ),
        (
            "bonus-rules",
            "en",
            "Bonuses",
            "Bonus rules",
            "A bonus must be wagered 30 times before any withdrawal of its winnings.",
        ),
        (
            "verify-account",
            "en",
            "Account",
            "Verifying your account",
            "Upload a photo of your ID card and a recent utility bill.",
        ),
        (
            "auszahlung",
            "de",
            "Zahlungen",
            "Wie lange dauert eine Auszahlung?",
            "Auszahlungen werden innerhalb von zwei Tagen überwiesen.",
        ),
    ];
    for (slug, language, category, title, body) in articles {
        let saved = create(&db, article(slug, language, category, title, body)).await.unwrap();
        publish(&db, saved.id, None).await.unwrap();
    }
    // A draft nobody published yet.
    create(
        &db,
        article("withdrawal-limits", "en", "Payments", "Withdrawal limits", "The most you can withdraw per day."),
    )
    .await
    .unwrap();

    // The title weighs more than the body; a word start finds the longer words.
    assert_eq!(
        titles(&db, "withdrawal", Audience::Public, None).await,
        ["How long does a withdrawal take?", "Bonus rules"]
    );
    assert_eq!(
        titles(&db, "withdraw", Audience::Agents, Some("en")).await,
        ["Withdrawal limits", "How long does a withdrawal take?", "Bonus rules"]
    );
    // Every word must be found.
    assert_eq!(titles(&db, "withdrawal bonus", Audience::Public, None).await, ["Bonus rules"]);
    assert!(titles(&db, "withdrawal passport", Audience::Public, None).await.is_empty());
    // Case does not matter; the language filter does.
    assert_eq!(titles(&db, "ÜBERWIESEN", Audience::Public, None).await, ["Wie lange dauert eine Auszahlung?"]);
    assert!(titles(&db, "auszahlung", Audience::Public, Some("en")).await.is_empty());
    // Text that is an operator in either engine's syntax is only words.
    for odd in
        ["\"withdrawal", "withdrawal OR -bonus", "NEAR(withdrawal", "withdrawal:*", "'withdrawal' & !x", "(((", "***"]
    {
        kb::list(&db, &ArticleFilter { q: Some(odd.into()), ..Default::default() }, Audience::Public).await.unwrap();
    }

    // The snippet quotes the passage with the words marked, escaped.
    let filter = ArticleFilter { q: Some("winnings".into()), ..Default::default() };
    let page = kb::list(&db, &filter, Audience::Public).await.unwrap();
    let snippet = page.items[0].snippet.clone().unwrap();
    assert!(snippet.contains("<mark>winnings</mark>"), "{snippet}");
    assert!(!snippet.contains('\u{2}') && !snippet.contains('\u{3}'), "{snippet:?}");

    // Filters and pages.
    let payments = ArticleFilter { category: Some("Payments".into()), ..Default::default() };
    let listed = kb::list(&db, &payments, Audience::Public).await.unwrap();
    assert_eq!(listed.items.iter().map(|a| a.slug.as_str()).collect::<Vec<_>>(), ["withdrawal-times"]);
    let first = kb::list(&db, &ArticleFilter { limit: 2, ..Default::default() }, Audience::Public).await.unwrap();
    assert_eq!((first.items.len(), first.next_offset), (2, Some(2)));
    let rest =
        kb::list(&db, &ArticleFilter { limit: 2, offset: 2, ..Default::default() }, Audience::Public).await.unwrap();
    assert_eq!((rest.items.len(), rest.next_offset), (2, None));
    let all: Vec<_> = first.items.iter().chain(&rest.items).map(|a| a.category.as_str()).collect();
    assert_eq!(all, ["Account", "Bonuses", "Payments", "Zahlungen"], "the public's list goes by category");
    let found = ArticleFilter { q: Some("withdraw".into()), limit: 1, ..Default::default() };
    let page = kb::list(&db, &found, Audience::Public).await.unwrap();
    assert_eq!((page.items.len(), page.next_offset), (1, Some(1)));

    // An agent finds a published article once, even while its draft says the same again.
    let id = kb::find(&db, "bonus-rules", "en").await.unwrap().id;
    edit(&db, id, "Bonus rules", "A bonus must be wagered 35 times before any withdrawal of its winnings.", None)
        .await
        .unwrap();
    let agents = kb::list(&db, &ArticleFilter { q: Some("wagered".into()), ..Default::default() }, Audience::Agents)
        .await
        .unwrap();
    assert_eq!(agents.items.len(), 1, "{agents:?}");
    assert_eq!(agents.items[0].version, 2, "the draft is what the agent works on");
    let public =
        kb::list(&db, &ArticleFilter { q: Some("30".into()), ..Default::default() }, Audience::Public).await.unwrap();
    assert_eq!(public.items.iter().map(|a| a.version).collect::<Vec<_>>(), [1]);
    assert!(titles(&db, "35", Audience::Public, None).await.is_empty());
    assert_eq!(titles(&db, "35", Audience::Agents, None).await, ["Bonus rules"]);
});

both_engines!(suggestions_come_from_the_tickets_words_in_its_language, |db| async move {
    let desk = DeskConfig::shipped();
    queues::install_default(&db, &desk, now()).await.unwrap();
    for (slug, language, title, body) in [
        ("withdrawal-times", "en", "How long does a withdrawal take?", "Withdrawals are paid within two days."),
        ("bonus-rules", "en", "Bonus rules", "A bonus must be wagered 30 times."),
        ("verify-account", "en", "Verifying your account", "Upload your ID card to verify your account."),
        (
            "auszahlung",
            "de",
            "Wie lange dauert eine Auszahlung?",
            "Auszahlungen werden innerhalb von zwei Tagen überwiesen.",
        ),
    ] {
        let saved = create(&db, article(slug, language, "Help", title, body)).await.unwrap();
        publish(&db, saved.id, None).await.unwrap();
    }
    // Drafts and archived articles are never suggested, however well they match.
    create(&db, article("withdrawal-pending", "en", "Help", "Withdrawal pending", "Pending withdrawal pending."))
        .await
        .unwrap();
    let gone = create(&db, article("old-withdrawals", "en", "Help", "Withdrawal pending (old)", "Pending withdrawal."))
        .await
        .unwrap();
    publish(&db, gone.id, None).await.unwrap();
    archive(&db, gone.id).await.unwrap();

    let english =
        ticket(&db, "en", "My withdrawal is still pending", "Hello, I withdrew 200 EUR three days ago. Thanks!").await;
    let found = kb::suggest_for(&db, &english, 5).await.unwrap();
    assert_eq!(found.first().map(|a| a.slug.as_str()), Some("withdrawal-times"), "{found:?}");
    assert!(found.iter().all(|a| a.state == ArticleState::Published && a.language == "en"), "{found:?}");
    assert!(!found.iter().any(|a| a.slug == "withdrawal-pending" || a.slug == "old-withdrawals"), "{found:?}");

    let german = ticket(&db, "de", "Auszahlung", "Hallo, meine Auszahlung ist seit drei Tagen nicht da.").await;
    let found = kb::suggest_for(&db, &german, 5).await.unwrap();
    assert_eq!(found.iter().map(|a| a.slug.as_str()).collect::<Vec<_>>(), ["auszahlung"]);

    // Nothing in the ticket's language: English.
    let french = ticket(&db, "fr", "Account verification", "Bonjour, how do I verify my account?").await;
    let found = kb::suggest_for(&db, &french, 5).await.unwrap();
    assert_eq!(found.first().map(|a| a.slug.as_str()), Some("verify-account"), "{found:?}");

    // A ticket that says nothing gets nothing; the limit holds.
    assert!(kb::suggest(&db, "Hi! Thanks.", "en", 5).await.unwrap().is_empty());
    assert_eq!(kb::suggest(&db, "withdrawal bonus account", "en", 1).await.unwrap().len(), 1);
});

async fn ticket(db: &Db, language: &str, subject: &str, body: &str) -> Ticket {
    let new = NewTicket {
        subject: subject.into(),
        player: None,
        requester: "someone@example.com".into(),
        channel: Channel::Email,
        priority: Priority::Normal,
        tags: vec![],
        body: body.into(),
        first_kind: MessageKind::Player,
        author: "someone@example.com".into(),
        received_at: None,
        email_message_id: None,
        language: Some(language.into()),
    };
    let mut tx = db.begin().await.unwrap();
    let t = tickets::create(&mut tx, &DeskConfig::shipped(), &new, "system", now()).await.unwrap();
    tx.commit().await.unwrap();
    t
}

both_engines!(what_is_saved_is_checked_first, |db| async move {
    let field = |e: HelpdeskError| match e {
        HelpdeskError::Invalid { field, .. } => field,
        other => panic!("{other}"),
    };
    let ok = || article("fine", "en", "Help", "Title", "Body");
    assert_eq!(field(create(&db, NewArticle { slug: "Not OK".into(), ..ok() }).await.unwrap_err()), "slug");
    assert_eq!(field(create(&db, NewArticle { language: "english".into(), ..ok() }).await.unwrap_err()), "language");
    assert_eq!(field(create(&db, NewArticle { title: " ".into(), ..ok() }).await.unwrap_err()), "title");
    assert_eq!(field(create(&db, NewArticle { category: "x".repeat(81), ..ok() }).await.unwrap_err()), "category");
    let huge = "word ".repeat(30_000);
    assert_eq!(field(create(&db, NewArticle { body: huge, ..ok() }).await.unwrap_err()), "body");
    let saved = create(&db, ok()).await.unwrap();
    assert_eq!(field(edit(&db, saved.id, "Title", "", None).await.unwrap_err()), "body");
    assert_eq!(kb::get(&db, saved.id).await.unwrap().latest_version, 1, "a refused save writes nothing");
    let bad = ArticleFilter { limit: 0, ..Default::default() };
    assert_eq!(field(kb::list(&db, &bad, Audience::Agents).await.unwrap_err()), "limit");
    let bad = ArticleFilter { q: Some("x".repeat(501)), ..Default::default() };
    assert_eq!(field(kb::list(&db, &bad, Audience::Agents).await.unwrap_err()), "q");
    let bad = ArticleFilter { language: Some("zz".into()), ..Default::default() };
    assert_eq!(field(kb::list(&db, &bad, Audience::Public).await.unwrap_err()), "language");

    // What is shown never carries a script, whatever the Markdown held.
    let script = create(
        &db,
        article(
            "safe",
            "en",
            "Help",
            "Safe",
            "Hi <script>alert(1)</script> [x](javascript:alert(2))\n\n<img src=x onerror=alert(3)>",
        ),
    )
    .await
    .unwrap();
    publish(&db, script.id, None).await.unwrap();
    let shown = kb::published(&db, "safe", None).await.unwrap();
    assert!(shown.body.contains("<script>"), "the Markdown is kept as written");
    for bad in ["<script", "javascript:", "onerror", "<img"] {
        assert!(!shown.body_html.contains(bad), "{bad}: {}", shown.body_html);
    }
});
