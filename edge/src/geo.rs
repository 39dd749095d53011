//! Client location → regions ranked by distance, as pure functions.
//!
//! Rankings for every fixed location (the edge's own and each configured
//! network) are computed once per config load; only a trusted
//! `x-client-geo` header costs a ranking per request (a handful of
//! haversines into a fixed-size array, no allocation).

use std::net::IpAddr;

use ipnet::IpNet;

use serde::Deserialize;

/// Highest number of regions; geo ranking uses fixed-size arrays of this.
pub const MAX_REGIONS: usize = 16;

/// A point on Earth, in degrees (config files name them this way).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// Mean Earth radius (IUGG), km.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in km.
pub fn haversine_km(a: Location, b: Location) -> f64 {
    let (lat1, lat2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.longitude - a.longitude).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Region indexes, nearest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranking {
    order: [u8; MAX_REGIONS],
    len: u8,
}

impl Ranking {
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.order[..self.len as usize].iter().map(|&i| i as usize)
    }

    pub fn nearest(&self) -> usize {
        self.order[0] as usize
    }
}

impl Ranking {
    /// The ranking in one word, four bits per index (`MAX_REGIONS` is 16),
    /// so an atomic can hold one that a background task recomputes.
    pub fn pack(&self) -> u64 {
        self.iter()
            .enumerate()
            .fold(0, |word, (slot, i)| word | (i as u64) << (4 * slot))
    }

    /// The ranking of `len` regions packed by `pack`.
    pub fn unpack(word: u64, len: usize) -> Self {
        let len = len.min(MAX_REGIONS);
        let mut order = [0u8; MAX_REGIONS];
        for (slot, o) in order.iter_mut().enumerate().take(len) {
            *o = (word >> (4 * slot) & 0xf) as u8;
        }
        Ranking {
            order,
            len: len as u8,
        }
    }
}

/// Ranks `n` regions by `key`, smallest first; ties keep config order.
pub fn rank_by<K: PartialOrd + Copy>(n: usize, key: impl Fn(usize) -> K) -> Ranking {
    let n = n.min(MAX_REGIONS);
    let mut order = [0u8; MAX_REGIONS];
    for i in 0..n {
        let k = key(i);
        // Insertion sort: n ≤ 16, and it is stable.
        let mut j = i;
        while j > 0 && key(order[j - 1] as usize) > k {
            order[j] = order[j - 1];
            j -= 1;
        }
        order[j] = i as u8;
    }
    Ranking {
        order,
        len: n as u8,
    }
}

/// Ranks `regions` by distance from `client`; ties keep config order.
pub fn rank(client: Location, regions: &[Location]) -> Ranking {
    rank_by(regions.len(), |i| haversine_km(client, regions[i]))
}

/// First region in `ranking` that is healthy and not excluded (already
/// tried). When every candidate is marked down, the nearest untried one is
/// returned anyway: failing open beats refusing all traffic when the health
/// checker, not the regions, is what broke.
pub fn pick(ranking: &Ranking, healthy: impl Fn(usize) -> bool, excluded: u32) -> Option<usize> {
    let untried = |i: &usize| excluded & (1 << i) == 0;
    ranking
        .iter()
        .filter(untried)
        .find(|&i| healthy(i))
        .or_else(|| ranking.iter().find(untried))
}

/// `x-client-geo: <lat>,<lon>` in degrees.
pub fn parse_geo_header(value: &[u8]) -> Option<Location> {
    let text = std::str::from_utf8(value).ok()?;
    let (lat, lon) = text.split_once(',')?;
    let latitude: f64 = lat.trim().parse().ok()?;
    let longitude: f64 = lon.trim().parse().ok()?;
    let valid = (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude);
    valid.then_some(Location {
        latitude,
        longitude,
    })
}

/// Where a request's location came from (a metrics/log label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoSource {
    Header,
    Network,
    EdgeDefault,
    /// At the edge, ranked by measured round-trip time (`geo.routing =
    /// "latency"`).
    Latency,
}

impl GeoSource {
    pub fn as_str(self) -> &'static str {
        match self {
            GeoSource::Header => "header",
            GeoSource::Network => "network",
            GeoSource::EdgeDefault => "default",
            GeoSource::Latency => "latency",
        }
    }
}

/// The compiled geo configuration.
#[derive(Debug, Clone)]
pub struct GeoTable {
    regions: Vec<Location>,
    trusted: Vec<IpNet>,
    /// Most specific network first.
    networks: Vec<(IpNet, Ranking)>,
    default: Ranking,
    /// Requests located at the edge go by measured round trip when there
    /// is a measurement (`geo.routing = "latency"`).
    by_latency: bool,
}

impl GeoTable {
    pub fn new(
        regions: Vec<Location>,
        edge: Location,
        trusted: Vec<IpNet>,
        networks: &[(IpNet, Location)],
        by_latency: bool,
    ) -> Self {
        let mut networks: Vec<(IpNet, Ranking)> = networks
            .iter()
            .map(|(net, loc)| (*net, rank(*loc, &regions)))
            .collect();
        networks.sort_by_key(|n| std::cmp::Reverse(n.0.prefix_len()));
        let default = rank(edge, &regions);
        Self {
            regions,
            trusted,
            networks,
            default,
            by_latency,
        }
    }

    /// Regions by distance from the edge itself.
    pub fn default_ranking(&self) -> Ranking {
        self.default
    }

    /// The ranking for a client: trusted header, else its network, else the
    /// edge's own location — by `measured` round trip instead when routing
    /// by latency and there is a measurement (asked only then).
    pub fn ranking_for(
        &self,
        client: Option<IpAddr>,
        header: Option<&[u8]>,
        measured: impl FnOnce() -> Option<Ranking>,
    ) -> (Ranking, GeoSource) {
        let client = client.map(canonical);
        if let (Some(ip), Some(value)) = (client, header) {
            if self.trusted.iter().any(|net| net.contains(&ip)) {
                if let Some(loc) = parse_geo_header(value) {
                    return (rank(loc, &self.regions), GeoSource::Header);
                }
            }
        }
        if let Some(ip) = client {
            if let Some((_, ranking)) = self.networks.iter().find(|(net, _)| net.contains(&ip)) {
                return (*ranking, GeoSource::Network);
            }
        }
        if self.by_latency {
            if let Some(ranking) = measured() {
                return (ranking, GeoSource::Latency);
            }
        }
        (self.default, GeoSource::EdgeDefault)
    }
}

/// `::ffff:1.2.3.4` → `1.2.3.4`, so IPv4 rules match dual-stack sockets.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(latitude: f64, longitude: f64) -> Location {
        Location {
            latitude,
            longitude,
        }
    }

    /// new-york, dallas, chicago, los-angeles, portland, virginia
    fn regions() -> Vec<Location> {
        vec![
            loc(40.7128, -74.0060),
            loc(32.7767, -96.7970),
            loc(41.8781, -87.6298),
            loc(34.0522, -118.2437),
            loc(45.5152, -122.6784),
            loc(39.0438, -77.4874),
        ]
    }

    const PORTLAND: usize = 4;
    const LOS_ANGELES: usize = 3;

    #[test]
    fn haversine_matches_known_distances() {
        // New York – Los Angeles ≈ 3936 km.
        let d = haversine_km(loc(40.7128, -74.0060), loc(34.0522, -118.2437));
        assert!((d - 3936.0).abs() < 10.0, "{d}");
        assert_eq!(haversine_km(loc(1.0, 2.0), loc(1.0, 2.0)), 0.0);
    }

    #[test]
    fn portland_client_goes_to_portland_then_los_angeles() {
        // Salem, Oregon.
        let ranking = rank(loc(44.94, -123.03), &regions());
        assert_eq!(ranking.nearest(), PORTLAND);
        assert_eq!(pick(&ranking, |_| true, 0), Some(PORTLAND));
        // Portland down → next nearest is Los Angeles.
        assert_eq!(pick(&ranking, |i| i != PORTLAND, 0), Some(LOS_ANGELES));
        // Portland already tried (connect failure) → Los Angeles.
        assert_eq!(pick(&ranking, |_| true, 1 << PORTLAND), Some(LOS_ANGELES));
    }

    #[test]
    fn every_city_ranks_itself_first() {
        let regions = regions();
        for (i, city) in regions.iter().enumerate() {
            assert_eq!(rank(*city, &regions).nearest(), i);
        }
        let full = rank(loc(40.0, -75.0), &regions);
        assert_eq!(full.iter().count(), 6);
    }

    #[test]
    fn all_down_fails_open_to_nearest_untried() {
        let ranking = rank(loc(44.94, -123.03), &regions());
        assert_eq!(pick(&ranking, |_| false, 0), Some(PORTLAND));
        assert_eq!(pick(&ranking, |_| false, 1 << PORTLAND), Some(LOS_ANGELES));
        assert_eq!(pick(&ranking, |_| true, 0b11_1111), None);
    }

    #[test]
    fn rankings_pack_into_one_word_and_back() {
        let ranking = rank(loc(44.94, -123.03), &regions());
        let word = ranking.pack();
        assert_eq!(Ranking::unpack(word, regions().len()), ranking);
        let sixteen = rank_by(MAX_REGIONS, |i| MAX_REGIONS - i);
        assert_eq!(sixteen.nearest(), MAX_REGIONS - 1);
        assert_eq!(Ranking::unpack(sixteen.pack(), MAX_REGIONS), sixteen);
    }

    #[test]
    fn rank_by_is_stable_on_ties() {
        let r = rank_by(4, |i| [3, 1, 3, 1][i]);
        assert_eq!(r.iter().collect::<Vec<_>>(), [1, 3, 0, 2]);
    }

    #[test]
    fn header_parsing_is_strict() {
        assert_eq!(parse_geo_header(b"45.5, -122.6"), Some(loc(45.5, -122.6)));
        for bad in [&b""[..], b"45.5", b"x,y", b"91,0", b"0,181", b"\xff,1"] {
            assert_eq!(parse_geo_header(bad), None);
        }
    }

    #[test]
    fn header_only_from_trusted_sources_then_network_then_default() {
        let trusted: IpNet = "10.0.0.0/8".parse().unwrap();
        let office: IpNet = "203.0.113.0/24".parse().unwrap();
        let table = GeoTable::new(
            regions(),
            loc(41.8781, -87.6298), // edge in Chicago
            vec![trusted],
            &[(office, loc(34.05, -118.24))],
            false,
        );
        let portland_header = Some(&b"45.52,-122.68"[..]);
        let (r, src) =
            table.ranking_for(Some("10.1.2.3".parse().unwrap()), portland_header, || None);
        assert_eq!((r.nearest(), src), (PORTLAND, GeoSource::Header));
        // Untrusted peer: header ignored, falls to its network.
        let (r, src) = table.ranking_for(
            Some("203.0.113.9".parse().unwrap()),
            portland_header,
            || None,
        );
        assert_eq!((r.nearest(), src), (LOS_ANGELES, GeoSource::Network));
        // IPv4-mapped IPv6 matches IPv4 rules.
        let (r, _) = table.ranking_for(Some("::ffff:203.0.113.9".parse().unwrap()), None, || None);
        assert_eq!(r.nearest(), LOS_ANGELES);
        let (r, src) = table.ranking_for(Some("198.51.100.1".parse().unwrap()), None, || None);
        assert_eq!((r.nearest(), src), (2, GeoSource::EdgeDefault));
    }

    #[test]
    fn latency_routing_only_for_requests_located_at_the_edge_and_once_measured() {
        let office: IpNet = "203.0.113.0/24".parse().unwrap();
        let table = GeoTable::new(
            regions(),
            loc(41.8781, -87.6298),
            Vec::new(),
            &[(office, loc(34.05, -118.24))],
            true,
        );
        let measured = rank_by(regions().len(), |i| usize::from(i != PORTLAND));
        let (r, src) = table.ranking_for(Some("198.51.100.1".parse().unwrap()), None, || {
            Some(measured)
        });
        assert_eq!((r.nearest(), src), (PORTLAND, GeoSource::Latency));
        let (r, src) = table.ranking_for(Some("198.51.100.1".parse().unwrap()), None, || None);
        assert_eq!(
            (r.nearest(), src),
            (2, GeoSource::EdgeDefault),
            "distance until measured"
        );
        let (r, src) = table.ranking_for(Some("203.0.113.9".parse().unwrap()), None, || {
            Some(measured)
        });
        assert_eq!(
            (r.nearest(), src),
            (LOS_ANGELES, GeoSource::Network),
            "located clients go by distance"
        );
    }
}
