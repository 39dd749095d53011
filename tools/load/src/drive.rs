//! Sessions over time: open loop (a rate per step, whatever the answers) or
//! closed loop (a number of users per step), bounded in time and count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

use crate::api::Api;
use crate::plan::{Arrival, Mix};
use crate::scenarios;
use crate::world::World;

#[derive(Clone)]
pub struct Drive {
    pub api: Api,
    pub world: Arc<World>,
    /// The connections sessions spread over, picked by each session's seed.
    pub clients: Arc<[reqwest::Client]>,
    pub mix: Mix,
    pub arrival: Arrival,
    pub step: Duration,
    /// Sessions in all, at most.
    pub max_sessions: u64,
    /// Open loop: sessions in flight at most; arrivals past it are counted
    /// as dropped (the generator, not the system, would be the limit).
    pub max_in_flight: usize,
    /// Sessions started so far (also read by the progress line).
    pub started: Arc<AtomicU64>,
}

pub struct Driven {
    /// Each step's length as run.
    pub seconds: Vec<f64>,
    /// Open-loop arrivals not started because `max_in_flight` were running.
    pub dropped: u64,
}

impl Drive {
    /// Runs every step; `on_step` hears each step's start (chaos, progress).
    pub async fn run(&self, mut on_step: impl FnMut(usize)) -> Driven {
        let mut seconds = Vec::new();
        let mut dropped = 0;
        for step in 0..self.arrival.steps() {
            on_step(step);
            let began = Instant::now();
            dropped += match &self.arrival {
                Arrival::Open { rates } => self.open(step, rates[step]).await,
                Arrival::Closed { users, think } => {
                    self.closed(step, users[step], *think).await;
                    0
                }
            };
            seconds.push(began.elapsed().as_secs_f64());
            if self.started.load(Ordering::Relaxed) >= self.max_sessions {
                break;
            }
        }
        Driven { seconds, dropped }
    }

    fn budget_left(&self) -> bool {
        self.started.load(Ordering::Relaxed) < self.max_sessions
    }

    fn session(
        &self,
        step: usize,
        seed: u64,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.started.fetch_add(1, Ordering::Relaxed);
        let mut rng = SmallRng::seed_from_u64(seed);
        let scenario = self.mix.pick(rng.gen_range(0..self.mix.total()));
        let api = Api {
            http: self.clients[rng.gen_range(0..self.clients.len())].clone(),
            step,
            scenario: scenario.name(),
            ..self.api.clone()
        };
        let world = self.world.clone();
        async move {
            api.recorder.session(step);
            scenarios::run(scenario, &api, &world, &mut rng).await;
        }
    }

    /// Starts sessions at `rate` per second for one step; waits for them.
    async fn open(&self, step: usize, rate: f64) -> u64 {
        let interval = Duration::from_secs_f64(1.0 / rate);
        let began = tokio::time::Instant::now();
        let end = began + self.step;
        let mut tasks = JoinSet::new();
        let mut dropped = 0;
        let mut n: u64 = 0;
        loop {
            // The n-th arrival's time is fixed by the schedule, not by when
            // the last one was started: a slow loop catches up.
            let at = began + interval.mul_f64(n as f64);
            if at >= end || !self.budget_left() {
                break;
            }
            tokio::time::sleep_until(at).await;
            while tasks.try_join_next().is_some() {}
            if tasks.len() >= self.max_in_flight {
                dropped += 1;
            } else {
                tasks.spawn(self.session(step, (step as u64) << 40 | n));
            }
            n += 1;
        }
        while tasks.join_next().await.is_some() {}
        dropped
    }

    /// `users` loops of sessions until the step ends.
    async fn closed(&self, step: usize, users: usize, think: Duration) {
        let end = tokio::time::Instant::now() + self.step;
        let mut tasks = JoinSet::new();
        for user in 0..users {
            let me = self.clone();
            tasks.spawn(async move {
                let mut n: u64 = 0;
                while tokio::time::Instant::now() < end && me.budget_left() {
                    me.session(step, (step as u64) << 40 | (user as u64) << 20 | n)
                        .await;
                    n += 1;
                    tokio::time::sleep(think).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}
