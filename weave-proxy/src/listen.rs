//! The proxy's listen addresses (`-H`) and dockerd's address.

use std::path::PathBuf;

/// Where the proxy listens: `unix:///path` or `tcp://HOST:PORT`.
#[derive(Debug, Clone, PartialEq)]
pub enum ListenAddr {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl ListenAddr {
    pub fn parse(s: &str) -> Result<ListenAddr, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(format!("{s:?}: expected unix:///absolute/path"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp://") {
            return a
                .parse()
                .map(ListenAddr::Tcp)
                .map_err(|e| format!("{s:?}: expected tcp://IP:PORT ({e})"));
        }
        Err(format!("{s:?}: expected unix:///path or tcp://IP:PORT"))
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            ListenAddr::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// dockerd: `unix:///path`, `tcp://HOST:PORT` or `http://HOST:PORT` (as `--docker-api`).
#[derive(Debug, Clone, PartialEq)]
pub enum DockerAddr {
    Unix(PathBuf),
    Tcp(String),
}

impl DockerAddr {
    pub fn parse(s: &str) -> Result<DockerAddr, String> {
        if let Some(p) = s.strip_prefix("unix://") {
            return Ok(DockerAddr::Unix(PathBuf::from(p)));
        }
        match s.strip_prefix("tcp://").or_else(|| s.strip_prefix("http://")) {
            Some(a) if !a.is_empty() => Ok(DockerAddr::Tcp(a.trim_end_matches('/').to_string())),
            _ => Err(format!("{s:?}: expected unix:///path or tcp://HOST:PORT")),
        }
    }
}

/// A bound proxy listener.
pub enum Listener {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener, std::net::SocketAddr),
}

/// A connection accepted by a [`Listener`].
pub trait Conn: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Conn for T {}

#[derive(Debug, thiserror::Error)]
#[error("binding the Docker API proxy to {addr}: {why}")]
pub struct BindError {
    pub addr: String,
    pub why: String,
}

impl Listener {
    /// Binds `addr`; a unix socket's directory is made and a stale socket file replaced.
    pub fn bind(addr: &ListenAddr) -> Result<Listener, BindError> {
        let err = |why: String| BindError { addr: addr.to_string(), why };
        match addr {
            ListenAddr::Unix(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
                }
                // A socket someone answers on is another proxy's (another daemon on this
                // machine): taking it over would cut that one off.
                if std::os::unix::net::UnixStream::connect(p).is_ok() {
                    return Err(err("another process listens there (another weave-daemon?)".into()));
                }
                match std::fs::remove_file(p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err(format!("removing the old socket: {e}"))),
                }
                let l = tokio::net::UnixListener::bind(p).map_err(|e| err(e.to_string()))?;
                Ok(Listener::Unix(l, p.clone()))
            }
            ListenAddr::Tcp(a) => {
                let std = std::net::TcpListener::bind(a).map_err(|e| err(e.to_string()))?;
                std.set_nonblocking(true).map_err(|e| err(e.to_string()))?;
                let l = tokio::net::TcpListener::from_std(std).map_err(|e| err(e.to_string()))?;
                let local = l.local_addr().map_err(|e| err(e.to_string()))?;
                Ok(Listener::Tcp(l, local))
            }
        }
    }

    /// The address clients use (a TCP port 0 resolved).
    pub fn addr(&self) -> ListenAddr {
        match self {
            Listener::Unix(_, p) => ListenAddr::Unix(p.clone()),
            Listener::Tcp(_, a) => ListenAddr::Tcp(*a),
        }
    }

    pub async fn accept(&self) -> std::io::Result<Box<dyn Conn>> {
        match self {
            Listener::Unix(l, _) => Ok(Box::new(l.accept().await?.0)),
            Listener::Tcp(l, _) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok(Box::new(s))
            }
        }
    }
}

impl Drop for Listener {
    /// The socket file goes with the listener.
    fn drop(&mut self) {
        if let Listener::Unix(_, p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_live_socket_is_not_taken_over_and_a_stale_one_is() {
        let dir = std::env::temp_dir().join(format!("weave-proxy-listen-{}", std::process::id()));
        let addr = ListenAddr::Unix(dir.join("sub/weave.sock"));
        let first = Listener::bind(&addr).expect("bind, making the directory");
        let e = Listener::bind(&addr).err().expect("a second bind is refused").to_string();
        assert!(e.contains("another process listens there"), "{e}");
        // Gone with its listener; a stale file (no listener) is replaced.
        drop(first);
        assert!(!dir.join("sub/weave.sock").exists());
        std::fs::write(dir.join("sub/weave.sock"), b"").unwrap();
        let again = Listener::bind(&addr).expect("a stale file is replaced");
        assert_eq!(again.addr(), addr);
        drop(again);
        let tcp = Listener::bind(&ListenAddr::Tcp("127.0.0.1:0".parse().unwrap())).unwrap();
        assert!(matches!(tcp.addr(), ListenAddr::Tcp(a) if a.port() != 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn addresses_parse_or_say_what_was_expected() {
        assert_eq!(
            ListenAddr::parse("unix:///var/run/weave/weave.sock"),
            Ok(ListenAddr::Unix("/var/run/weave/weave.sock".into()))
        );
        assert_eq!(ListenAddr::parse("tcp://0.0.0.0:12375").unwrap().to_string(), "tcp://0.0.0.0:12375");
        assert!(ListenAddr::parse("unix://rel").unwrap_err().contains("absolute"));
        assert!(ListenAddr::parse("tcp://host").unwrap_err().contains("tcp://IP:PORT"));
        assert!(ListenAddr::parse("/x").is_err());
        assert_eq!(
            DockerAddr::parse("unix:///run/docker.sock"),
            Ok(DockerAddr::Unix("/run/docker.sock".into()))
        );
        assert_eq!(DockerAddr::parse("tcp://10.0.0.1:2375"), Ok(DockerAddr::Tcp("10.0.0.1:2375".into())));
        assert!(DockerAddr::parse("ftp://x").is_err());
    }
}
