//! `pitboss serve`: the HTTP server, the outbox relay, and a graceful shutdown that finishes
//! in-flight requests and flushes the outbox before exiting.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pitboss_bus::relay::Relay;
use pitboss_bus::{Transport, in_process::InProcess, rabbitmq::RabbitMq};
use pitboss_ingest::Ingestor;
use pitboss_store::Db;
use pitboss_web::{AppState, Target};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Settings;

/// A running server: its address, and the handle that stops it.
pub struct Running {
    pub addr: std::net::SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, flushes the outbox, and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.task.await.context("the server task failed")?
    }
}

pub async fn transport(settings: &Settings) -> anyhow::Result<Arc<dyn Transport>> {
    Ok(match settings.bus_transport.as_str() {
        "rabbitmq" => {
            // Every consumer's queue exists before the first publish, whichever process runs it.
            let consumers = [
                pitboss_segments::consumer::CONSUMER,
                pitboss_ops::consumer::CONSUMER,
                pitboss_ops::consumer::BREACHES,
                pitboss_ops::consumer::ANOMALIES,
                pitboss_ops::consumer::NOTIFICATIONS,
                pitboss_ops::consumer::SESSIONS,
            ];
            let bus = RabbitMq::connect_for(&settings.amqp_url, &settings.amqp_exchange, &consumers).await;
            Arc::new(bus.with_context(|| {
                format!("connecting to RabbitMQ at {}", crate::config::redact_url(&settings.amqp_url))
            })?)
        }
        _ => Arc::new(InProcess::new()),
    })
}

/// Starts the server on an open database; returns once it is listening.
pub async fn start(settings: &Settings, db: Db) -> anyhow::Result<Running> {
    pitboss_web::install_recorder();
    let targets: BTreeSet<Target> = Target::parse_list(&settings.targets).map_err(anyhow::Error::msg)?;
    let transport = transport(settings).await?;
    let relay = Relay::new(db.clone(), transport.clone()).with_batch_size(settings.relay_batch_size);
    pitboss_payments::accounts::open_house_accounts(&db).await.context("opening the house accounts")?;
    let mut ingestor = Ingestor::new(db.clone());
    let runs_relay = targets.contains(&Target::Ingest);
    if runs_relay {
        ingestor = ingestor.with_relay(relay.notifier());
    }
    // Every process signs audit checkpoints with the same key file; the first to sign a size wins.
    let audit_key = pitboss_auth::audit::load_or_create_signing_key(&settings.audit_signing_key_path())
        .context("loading the audit signing key (setting audit_signing_key)")?;
    let mut security = crate::security::build(settings).await?;
    security.audit_key = Some(audit_key.verifying_key());
    let mut state = AppState::new(db.clone(), ingestor, transport, targets.clone()).with_security(security);
    state.rates = Arc::new(settings.rates()?);
    state.holdout = Arc::new(settings.holdout());
    state.withdrawals = Arc::new(settings.withdrawal_policy()?);
    state.helpdesk = Arc::new(settings.helpdesk()?);
    state.webhooks = Arc::new(pitboss_web::WebhookSecrets {
        telephony: settings.telephony_webhook_secret.clone().filter(|s| !s.is_empty()),
        mail: settings.mail_webhook_secret.clone().filter(|s| !s.is_empty()),
        chat_widget: settings.chat_widget_secret.clone().filter(|s| !s.is_empty()),
    });
    // Each module's consumers, with what they keep, for the error when the bus refuses one.
    let mut consumers: Vec<(&str, Arc<dyn pitboss_bus::Handler>, &str)> = Vec::new();
    if targets.contains(&Target::Segments) {
        // Keeps every segment current for the players each event is about.
        let consumer = pitboss_segments::consumer::SegmentsConsumer::new(db.clone(), state.rates.clone());
        consumers.push((pitboss_segments::consumer::CONSUMER, consumer, "segments"));
    }
    if targets.contains(&Target::Ops) {
        // Applies the review rules to each withdrawal the platform asks for: the approval queue.
        let queue =
            pitboss_ops::consumer::WithdrawalsConsumer::new(db.clone(), state.withdrawals.clone(), state.rates.clone());
        consumers.push((pitboss_ops::consumer::CONSUMER, queue, "the withdrawal queue"));
        // Flags the deposits and rounds that went through although a limit should have stopped them.
        let breaches = pitboss_ops::consumer::BreachesConsumer::new(db.clone(), state.rates.clone());
        consumers.push((pitboss_ops::consumer::BREACHES, breaches, "the limit breaches"));
        // Keeps each player's sessions, which the session-time limits count.
        let sessions = pitboss_ops::consumer::SessionsConsumer::new(db.clone());
        consumers.push((pitboss_ops::consumer::SESSIONS, sessions, "the session-time limits"));
        // Runs the anomaly rules on every event; the shipped rules are installed once.
        pitboss_ops::anomaly_rules::install_shipped(&db, chrono::Utc::now())
            .await
            .context("installing the shipped anomaly rules")?;
        let anomalies = pitboss_ops::consumer::AnomaliesConsumer::new(db.clone(), state.rates.clone());
        consumers.push((pitboss_ops::consumer::ANOMALIES, anomalies, "the anomaly rules"));
        // Tells each alert's subscribers, by email or webhook.
        let sender = Arc::new(settings.alert_sender().context("the alert notifications' settings")?);
        let notifications = pitboss_ops::consumer::NotificationsConsumer::new(db.clone(), sender);
        consumers.push((pitboss_ops::consumer::NOTIFICATIONS, notifications, "the alert notifications"));
    }
    for (name, handler, what) in consumers {
        state.transport.subscribe(name, handler).await.with_context(|| format!("subscribing {what} to the bus"))?;
    }
    // Fires each player's segment timer at the instant time alone changes a membership.
    let segment_timers = targets.contains(&Target::Segments).then(|| {
        let handler = pitboss_segments::live::SegmentTimers::new(state.rates.clone());
        let scheduler = pitboss_bus::timers::Scheduler::new(db.clone(), pitboss_segments::live::TIMER_KIND, handler);
        let shutdown = Arc::new(tokio::sync::Notify::new());
        (tokio::spawn(scheduler.run(shutdown.clone())), shutdown)
    });
    // Tries a failed alert delivery again at its time.
    let delivery_retries = targets.contains(&Target::Ops).then(|| {
        let handler = Arc::new(pitboss_ops::consumer::DeliveryRetries);
        let scheduler =
            pitboss_bus::timers::Scheduler::new(db.clone(), pitboss_ops::notifications::RETRY_TIMER, handler);
        let shutdown = Arc::new(tokio::sync::Notify::new());
        (tokio::spawn(scheduler.run(shutdown.clone())), shutdown)
    });
    // Fires each ticket's SLA warning and breach at its due time, and escalates.
    let mut mail_retries = None;
    let sla_timers = if targets.contains(&Target::Helpdesk) {
        pitboss_helpdesk::queues::install_default(&db, &state.helpdesk, chrono::Utc::now())
            .await
            .context("creating the help desk's default queue")?;
        // Sends agents' email replies; a failed try comes back from its retry timer.
        let sender =
            pitboss_helpdesk::email::MailSender::new(settings.smtp_url.as_deref(), state.helpdesk.mail_from.clone())
                .context("the help desk's mail settings")?;
        let mail = pitboss_helpdesk::email::MailConsumer::new(db.clone(), Arc::new(sender));
        state
            .transport
            .subscribe(pitboss_helpdesk::email::CONSUMER, mail)
            .await
            .context("subscribing the help desk's mail to the bus")?;
        let retries = pitboss_bus::timers::Scheduler::new(
            db.clone(),
            pitboss_helpdesk::email::RETRY_TIMER,
            Arc::new(pitboss_helpdesk::email::MailRetries),
        );
        let retry_stop = Arc::new(tokio::sync::Notify::new());
        mail_retries = Some((tokio::spawn(retries.run(retry_stop.clone())), retry_stop));
        let handler = pitboss_helpdesk::escalation::SlaTimers::new(state.helpdesk.clone());
        let scheduler = pitboss_bus::timers::Scheduler::new(db.clone(), pitboss_helpdesk::escalation::TIMER, handler);
        state.sla_wake = scheduler.waker();
        let shutdown = Arc::new(tokio::sync::Notify::new());
        Some((tokio::spawn(scheduler.run(shutdown.clone())), shutdown))
    } else {
        None
    };
    // Refits the churn and lifetime value models every clv_refit_hours, counted from the last fit.
    let refitter = settings.clv_refit_every().filter(|_| targets.contains(&Target::Segments)).map(|every| {
        let models = pitboss_models::RefitSettings::default();
        pitboss_models::spawn_scheduler(db.clone(), state.rates.clone(), models, every)
    });
    let app = pitboss_web::app(state);
    let listener =
        TcpListener::bind(settings.listen).await.with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let names: Vec<&str> = targets.iter().map(|t| t.name()).collect();
    tracing::info!(%addr, targets = names.join(","), engine = db.engine().name(), "pitboss is serving");

    let checkpoint_every = Duration::from_secs(settings.audit_checkpoint_seconds);
    let checkpointer = pitboss_auth::audit::spawn_checkpointer(db.clone(), audit_key, checkpoint_every);
    let task = tokio::spawn(async move {
        let relay_task = runs_relay.then(|| tokio::spawn(relay.run(stopped.clone())));
        let mut http_stop = stopped.clone();
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = http_stop.wait_for(|s| *s).await;
        });
        server.await.context("the HTTP server failed")?;
        // Requests are done; the relay sees the same signal and flushes what they wrote.
        if let Some(t) = relay_task
            && tokio::time::timeout(grace, t).await.is_err()
        {
            tracing::warn!("the outbox flush did not finish in time; the rest goes out on the next start");
        }
        checkpointer.abort();
        if let Some(refitter) = refitter {
            refitter.abort();
        }
        for (timers, shutdown) in [segment_timers, delivery_retries, sla_timers, mail_retries].into_iter().flatten() {
            shutdown.notify_one();
            let _ = timers.await;
        }
        db.close().await;
        Ok(())
    });
    Ok(Running { addr, stop, task })
}

/// Serves until SIGINT or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let db = crate::cli::open(&settings).await?;
    let running = start(&settings, db).await?;
    println!("pitboss is listening on http://{}", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests and flushing the outbox");
    running.stop().await
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    #[test]
    fn segments_listen_for_the_topic_a_refit_sends() {
        assert_eq!(pitboss_models::REFITTED, pitboss_segments::consumer::MODEL_REFITTED);
    }
}
