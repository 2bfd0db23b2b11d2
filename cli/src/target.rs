//! What a TARGET on the command line names (API.md, "The mapipc command"):
//! parsing only, no system call.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/name`: a POSIX object in /dev/shm.
    Posix(String),
    /// A System V key.
    SysvKey(i32),
    /// `id:N`: a System V segment id.
    SysvId(i32),
    /// Any other path.
    File(PathBuf),
}

impl Target {
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(id) = s.strip_prefix("id:") {
            return id
                .parse::<i32>()
                .ok()
                .filter(|&id| id >= 0)
                .map(Target::SysvId)
                .ok_or_else(|| format!("{s}: not a System V id (id:N, N a non-negative integer)"));
        }
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .map(|k| Target::SysvKey(k as i32))
                .map_err(|_| format!("{s}: not a System V key (at most 8 hex digits)"));
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<u32>()
                .map(|k| Target::SysvKey(k as i32))
                .map_err(|_| format!("{s}: not a System V key (too large)"));
        }
        match s.strip_prefix('/') {
            Some(rest) if !rest.contains('/') => Ok(Target::Posix(s.to_string())),
            _ if s.is_empty() => Err("an empty TARGET".to_string()),
            _ => Ok(Target::File(PathBuf::from(s))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_target() {
        assert_eq!(Target::parse("/q"), Ok(Target::Posix("/q".into())));
        assert_eq!(Target::parse("/tmp/q"), Ok(Target::File("/tmp/q".into())));
        assert_eq!(Target::parse("q"), Ok(Target::File("q".into())));
        assert_eq!(Target::parse("0x1f"), Ok(Target::SysvKey(31)));
        assert_eq!(Target::parse("0xffffffff"), Ok(Target::SysvKey(-1)));
        assert_eq!(Target::parse("42"), Ok(Target::SysvKey(42)));
        assert_eq!(Target::parse("id:7"), Ok(Target::SysvId(7)));
        for bad in ["id:x", "id:-1", "0x", "0x123456789", "99999999999", ""] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
