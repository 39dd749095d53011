//! Where the lab's cities and regions are, and how far apart by fibre.
//!
//! One-way delay = great-circle distance × route factor ÷ the speed of
//! light in fibre. The route factor (how much longer the cable runs than
//! the great circle) and the speed are in `deploy/lab/cities.toml`, with
//! their sources; the regions' coordinates are the regions' own files
//! (`regions/<id>.toml`), so the lab and the edge's distance ranking agree.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub id: String,
    pub name: String,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Fibre path length ÷ great-circle distance.
    pub route_factor: f64,
    /// Light in silica fibre, km per millisecond.
    pub fibre_km_per_ms: f64,
    pub cities: Vec<Place>,
}

/// A region file's location; the rest of the file is the origin's.
#[derive(Deserialize)]
struct RegionFile {
    id: String,
    name: String,
    latitude: f64,
    longitude: f64,
}

/// One link of the lab: a city's PoP to a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub city: String,
    pub region: String,
    pub great_circle_km: f64,
    pub fibre_km: f64,
    pub one_way_ms: f64,
}

impl Link {
    pub fn rtt_ms(&self) -> f64 {
        2.0 * self.one_way_ms
    }
}

pub struct Lab {
    pub table: Table,
    pub regions: Vec<Place>,
}

impl Lab {
    /// Reads the cities file and `regions/<id>.toml` for each id given.
    pub fn load(cities: &Path, regions_dir: &Path, region_ids: &[String]) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(cities)
            .with_context(|| format!("reading {}", cities.display()))?;
        let table: Table =
            toml::from_str(&text).with_context(|| format!("{}", cities.display()))?;
        let mut regions = Vec::new();
        for id in region_ids {
            let path = regions_dir.join(format!("{id}.toml"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file: RegionFile = toml::from_str(&text)
                .with_context(|| format!("{}: id, name, latitude, longitude", path.display()))?;
            if file.id != *id {
                bail!("{}: id = {:?}, expected {id:?}", path.display(), file.id);
            }
            regions.push(Place {
                id: file.id,
                name: file.name,
                latitude: file.latitude,
                longitude: file.longitude,
            });
        }
        let lab = Self { table, regions };
        lab.validate()
            .with_context(|| format!("{}", cities.display()))?;
        Ok(lab)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let t = &self.table;
        if !(1.0..=3.0).contains(&t.route_factor) {
            bail!("route_factor = {}: between 1.0 and 3.0", t.route_factor);
        }
        if !(100.0..=300.0).contains(&t.fibre_km_per_ms) {
            bail!(
                "fibre_km_per_ms = {}: between 100 and 300",
                t.fibre_km_per_ms
            );
        }
        if t.cities.is_empty() || t.cities.len() > 16 {
            bail!("cities: 1 to 16 of them");
        }
        for (i, c) in t.cities.iter().enumerate() {
            // The id names namespaces (`mlab-c-<id>`, at most 15 bytes).
            if c.id.is_empty()
                || c.id.len() > 8
                || !c.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                bail!("cities[{i}].id = {:?}: 1 to 8 of a-z and -", c.id);
            }
            if !(-90.0..=90.0).contains(&c.latitude) || !(-180.0..=180.0).contains(&c.longitude) {
                bail!("cities[{i}] ({}): latitude or longitude out of range", c.id);
            }
            if t.cities[..i].iter().any(|o| o.id == c.id) {
                bail!("cities[{i}].id = {:?}: twice", c.id);
            }
        }
        Ok(())
    }

    pub fn link(&self, city: &Place, region: &Place) -> Link {
        let km = great_circle_km(city, region);
        let fibre = km * self.table.route_factor;
        Link {
            city: city.id.clone(),
            region: region.id.clone(),
            great_circle_km: km,
            fibre_km: fibre,
            one_way_ms: fibre / self.table.fibre_km_per_ms,
        }
    }

    /// A city's links, nearest region first.
    pub fn links_of(&self, city: &Place) -> Vec<Link> {
        let mut links: Vec<Link> = self.regions.iter().map(|r| self.link(city, r)).collect();
        links.sort_by(|a, b| a.one_way_ms.total_cmp(&b.one_way_ms));
        links
    }
}

/// Haversine on a sphere of the Earth's mean radius; good to 0.5%, far
/// below what the route factor guesses.
pub fn great_circle_km(a: &Place, b: &Place) -> f64 {
    const EARTH_KM: f64 = 6371.0;
    let (la1, la2) = (a.latitude.to_radians(), b.latitude.to_radians());
    let dla = la2 - la1;
    let dlo = (b.longitude - a.longitude).to_radians();
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * EARTH_KM * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, latitude: f64, longitude: f64) -> Place {
        Place {
            id: id.into(),
            name: id.into(),
            latitude,
            longitude,
        }
    }

    #[test]
    fn great_circle_distances_match_known_ones() {
        // New York–Los Angeles is 3,936 km; Seattle–Portland 234 km.
        let ny = place("ny", 40.7128, -74.0060);
        let la = place("la", 34.0522, -118.2437);
        let d = great_circle_km(&ny, &la);
        assert!((d - 3936.0).abs() < 10.0, "{d}");
        let sea = place("sea", 47.6062, -122.3321);
        let pdx = place("pdx", 45.5152, -122.6784);
        let d = great_circle_km(&sea, &pdx);
        assert!((d - 234.0).abs() < 3.0, "{d}");
        assert_eq!(great_circle_km(&ny, &ny), 0.0);
    }

    fn lab(cities: Vec<Place>) -> Lab {
        Lab {
            table: Table {
                route_factor: 1.5,
                fibre_km_per_ms: 200.0,
                cities,
            },
            regions: vec![
                place("portland", 45.5152, -122.6784),
                place("new-york", 40.7128, -74.0060),
            ],
        }
    }

    #[test]
    fn links_are_fibre_delays_nearest_first() {
        let lab = lab(vec![place("seattle", 47.6062, -122.3321)]);
        let links = lab.links_of(&lab.table.cities[0]);
        assert_eq!(links[0].region, "portland");
        assert_eq!(links[1].region, "new-york");
        let l = &links[0];
        assert!((l.fibre_km - 1.5 * l.great_circle_km).abs() < 1e-9);
        assert!((l.one_way_ms - l.fibre_km / 200.0).abs() < 1e-9);
        assert!((l.rtt_ms() - 3.5).abs() < 0.1, "{}", l.rtt_ms());
    }

    #[test]
    fn bad_tables_name_what_is_wrong() {
        let cases: [(Vec<Place>, f64, &str); 4] = [
            (vec![place("Boston", 1.0, 1.0)], 1.5, "1 to 8 of a-z"),
            (vec![place("far", 91.0, 1.0)], 1.5, "out of range"),
            (
                vec![place("a", 1.0, 1.0), place("a", 2.0, 2.0)],
                1.5,
                "twice",
            ),
            (vec![place("a", 1.0, 1.0)], 0.5, "route_factor"),
        ];
        for (cities, factor, want) in cases {
            let mut l = lab(cities);
            l.table.route_factor = factor;
            let err = l.validate().unwrap_err().to_string();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
        assert!(lab(vec![place("boston", 42.36, -71.06)]).validate().is_ok());
    }
}
