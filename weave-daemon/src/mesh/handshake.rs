//! The connection handshake over a byte stream: protocol header and version, the v2 intro
//! (encryption flag and ephemeral public key), the session key, and the features exchange.
//! Also the framed, optionally encrypted message codec used afterwards.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use weave_wire::crypto::{KeyPair, SessionKey, TcpReceiver, TcpSender};
use weave_wire::protocol::{
    negotiate, Features, Header, Intro, HEADER_LEN, MAX_FEATURES_FRAME, MAX_MSG_SIZE,
};

/// Reads after the handshake must see a message this often (heartbeats come every 30 s).
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The whole handshake must complete within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sealing and framing of outgoing messages.
pub struct Sealer(Option<TcpSender>);
/// Unframing and opening of incoming messages.
pub struct Opener(Option<TcpReceiver>);

impl Sealer {
    /// Appends the length-prefixed (and, with a password, sealed) frame of `body` to `out`.
    pub fn frame(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        match &mut self.0 {
            Some(s) => s.seal_into(body, out),
            None => out.extend_from_slice(body),
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

impl Opener {
    /// Reads one frame and returns the message body.
    pub async fn read<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, String> {
        self.read_max(r, MAX_MSG_SIZE).await
    }

    /// Reads one frame of at most `max` bytes (refused on its length prefix alone).
    async fn read_max<R: AsyncRead + Unpin>(&mut self, r: &mut R, max: usize) -> Result<Vec<u8>, String> {
        let mut len = [0u8; 4];
        r.read_exact(&mut len).await.map_err(io_reason)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > max {
            return Err(format!("received too big length-prefixed message: {len} bytes (limit {max})"));
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf).await.map_err(io_reason)?;
        match &mut self.0 {
            Some(o) => o.open(&buf).map_err(|_| "Unable to decrypt TCP msg".to_string()),
            None => Ok(buf),
        }
    }
}

fn io_reason(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "EOF".into()
    } else {
        e.to_string()
    }
}

/// A completed handshake.
pub struct Established {
    pub features: Features,
    pub version: u8,
    pub sealer: Sealer,
    pub opener: Opener,
    /// The session key, when a password is set (the overlay encrypts with it).
    pub session_key: Option<SessionKey>,
}

/// Runs the handshake on `stream`. `ours` are the features we announce; `outbound` says we
/// dialled. Errors are worded as Weave words them.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    ours: &Features,
    password: Option<&[u8]>,
    outbound: bool,
) -> Result<Established, String> {
    let keys = match password {
        Some(_) => Some(KeyPair::generate().map_err(|e| e.to_string())?),
        None => None,
    };
    let mut hello = Header::default().encode().to_vec();
    hello.extend(match &keys {
        Some(k) => Intro::Encrypted { public_key: *k.public() }.encode(),
        None => Intro::Plain.encode(),
    });
    stream.write_all(&hello).await.map_err(io_reason)?;

    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await.map_err(io_reason)?;
    let theirs = Header::decode(&header).map_err(|e| e.to_string())?;
    let ours_h = Header::default();
    let version = negotiate(ours_h.min_version, ours_h.max_version, theirs.min_version, theirs.max_version)
        .map_err(|e| e.to_string())?;
    if version < 2 {
        return Err(format!("protocol version {version} is not supported; weave speaks version 2"));
    }

    let mut flag = [0u8; 1];
    stream.read_exact(&mut flag).await.map_err(io_reason)?;
    let mut intro_bytes = flag.to_vec();
    let intro = loop {
        match Intro::decode(&intro_bytes, password.is_some()).map_err(|e| e.to_string())? {
            Some((intro, _)) => break intro,
            None => {
                let mut key = [0u8; 32];
                stream.read_exact(&mut key).await.map_err(io_reason)?;
                intro_bytes.extend_from_slice(&key);
            }
        }
    };
    let (mut sealer, mut opener, key) = match (&keys, intro.public_key(), password) {
        (Some(k), Some(remote), Some(pw)) => {
            // A low-order key is refused before anything is sealed under the key it makes.
            let key = k.session_key(remote, pw).map_err(|e| e.to_string())?;
            (
                Sealer(Some(TcpSender::new(&key, outbound))),
                Opener(Some(TcpReceiver::new(&key, outbound))),
                Some(key),
            )
        }
        _ => (Sealer(None), Opener(None), None),
    };

    let mut out = Vec::new();
    sealer.frame(&ours.encode(), &mut out);
    stream.write_all(&out).await.map_err(io_reason)?;
    let body = opener.read_max(stream, MAX_FEATURES_FRAME).await?;
    let features = Features::decode(&body).map_err(|e| e.to_string())?;
    Ok(Established { features, version, sealer, opener, session_key: key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use weave_wire::PeerName;

    fn features(n: u64, nick: &str) -> Features {
        Features {
            name: PeerName(n),
            nick_name: nick.into(),
            short_id: Some(7),
            uid: 100 + n,
            conn_id: 1000 + n,
            trusted: false,
            overlays: None,
            fastdp_heartbeat_ms: None,
            sleeve_ciphers: None,
        }
    }

    async fn pair(
        pw_a: Option<&[u8]>,
        pw_b: Option<&[u8]>,
    ) -> (Result<Established, String>, Result<Established, String>) {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let fa = features(1, "a");
        let fb = features(2, "b");
        tokio::join!(handshake(&mut a, &fa, pw_a, true), handshake(&mut b, &fb, pw_b, false))
    }

    #[tokio::test]
    async fn plain_and_encrypted_handshakes_exchange_features() {
        for pw in [None, Some(&b"secret"[..])] {
            let (a, b) = pair(pw, pw).await;
            let (mut a, mut b) = (a.unwrap(), b.unwrap());
            assert_eq!(a.features.nick_name, "b");
            assert_eq!(b.features.nick_name, "a");
            assert_eq!(a.session_key, b.session_key);
            assert_eq!(a.session_key.is_some(), pw.is_some());
            // Messages flow both ways after the handshake.
            let mut wire = Vec::new();
            a.sealer.frame(b"\x04hello", &mut wire);
            let got = b.opener.read(&mut wire.as_slice()).await.unwrap();
            assert_eq!(got, b"\x04hello");
        }
    }

    #[tokio::test]
    async fn mismatched_passwords_fail_as_weave_says() {
        let (a, _) = pair(Some(b"x"), None).await;
        assert_eq!(a.err().unwrap(), "password specified, but peer requested an unencrypted connection");
        let (a, b) = pair(Some(b"right"), Some(b"wrong")).await;
        assert_eq!(a.err().unwrap(), "Unable to decrypt TCP msg");
        assert_eq!(b.err().unwrap(), "Unable to decrypt TCP msg");
    }

    /// A low-order public key makes the X25519 secret all zeros: every such connection would
    /// share one key (given the password) with counters from zero. Honest peers never send one.
    #[tokio::test]
    async fn a_low_order_public_key_is_refused_before_anything_is_sent_encrypted() {
        let (mut ours, mut theirs) = tokio::io::duplex(1 << 16);
        let ours_side = async {
            let r = handshake(&mut ours, &features(1, "a"), Some(b"pw"), false).await;
            drop(ours);
            r
        };
        let attacker = async {
            let mut hello = Header::default().encode().to_vec();
            hello.extend(Intro::Encrypted { public_key: [0; 32] }.encode());
            theirs.write_all(&hello).await.unwrap();
            theirs.shutdown().await.unwrap();
            let mut sent = Vec::new();
            let _ = theirs.read_to_end(&mut sent).await;
            sent
        };
        let (result, sent) = tokio::join!(ours_side, attacker);
        let err = result.err().expect("the handshake must fail");
        assert!(err.contains("low-order public key"), "{err}");
        // Only our header and intro went out: no features message sealed under that key.
        assert_eq!(sent.len(), HEADER_LEN + 33);
    }

    #[tokio::test]
    async fn a_features_frame_larger_than_features_need_is_refused_at_once() {
        // A peer that announces a 1 MiB features message (and never sends it): refused on the
        // length alone, before the body is awaited or memory is set aside for it.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let mut hello = Header::default().encode().to_vec();
        hello.extend(Intro::Plain.encode());
        hello.extend((1u32 << 20).to_be_bytes());
        b.write_all(&hello).await.unwrap();
        b.shutdown().await.unwrap();
        let err = handshake(&mut a, &features(1, "a"), None, false).await.err().unwrap();
        assert!(err.contains("too big"), "{err}");
        assert!(err.contains(&MAX_FEATURES_FRAME.to_string()), "{err}");
    }

    #[tokio::test]
    async fn oversized_frames_are_refused_before_allocating() {
        let mut wire: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
        let err = Opener(None).read(&mut wire).await.unwrap_err();
        assert!(err.contains("too big"), "{err}");
    }
}
