//! Everything a request needs from the configuration, compiled once per
//! load and published through an `ArcSwap`: a request takes one snapshot and
//! never sees half of a reload.

use std::sync::Arc;

use http::HeaderValue;

use crate::config::EdgeConfig;
use crate::geo::GeoTable;
use crate::routing::RouteTable;
use crate::session::Sessions;
use crate::upstreams::Upstreams;

pub struct EdgeState {
    pub routes: RouteTable,
    pub geo: GeoTable,
    pub upstreams: Arc<Upstreams>,
    pub sessions: Arc<Sessions>,
    pub internal_secret: HeaderValue,
    pub max_body_bytes: u64,
    pub access_log: bool,
}

impl EdgeState {
    pub fn new(config: &EdgeConfig, upstreams: Arc<Upstreams>) -> anyhow::Result<Self> {
        let regions = config
            .regions
            .iter()
            .map(|r| crate::config::Location {
                latitude: r.latitude,
                longitude: r.longitude,
            })
            .collect();
        let networks: Vec<_> = config
            .geo
            .networks
            .iter()
            .map(|n| {
                (
                    n.cidr,
                    crate::config::Location {
                        latitude: n.latitude,
                        longitude: n.longitude,
                    },
                )
            })
            .collect();
        let mut secret = HeaderValue::from_str(&config.edge.internal_secret)
            .map_err(|_| anyhow::anyhow!("edge.internal_secret: must be printable ASCII"))?;
        secret.set_sensitive(true);
        Ok(Self {
            routes: RouteTable::new(&config.routes),
            geo: GeoTable::new(
                regions,
                config.edge.location,
                config.geo.trusted_header_sources.clone(),
                &networks,
            ),
            upstreams,
            sessions: Arc::new(Sessions::new(&config.session, &config.edge.internal_secret)),
            internal_secret: secret,
            max_body_bytes: config.edge.max_body_bytes,
            access_log: config.edge.access_log,
        })
    }
}
