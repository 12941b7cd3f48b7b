
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'sockchat' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'sockchat'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'sockchat' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a chat room that others join')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Join a chat room from this terminal')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('store', 'store', [CompletionResultType]::ParameterValue, 'Look after a store (`serve --store DIR`) without starting a server')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sockchat;serve' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Address to listen on (0.0.0.0 = every IPv4 interface, :: = IPv6); ADDR:PORT also sets the port')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Port to listen on (0 picks a free one)')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0 picks a free one)')
            [CompletionResult]::new('--max-line-bytes', '--max-line-bytes', [CompletionResultType]::ParameterName, 'Longest line a client may send, in bytes; longer lines are dropped with an error')
            [CompletionResult]::new('--max-clients', '--max-clients', [CompletionResultType]::ParameterName, 'Most connections at once; the next one is told the room is full')
            [CompletionResult]::new('--login-timeout', '--login-timeout', [CompletionResultType]::ParameterName, 'Seconds a new connection has to log in before it is closed')
            [CompletionResult]::new('--send-queue', '--send-queue', [CompletionResultType]::ParameterName, 'Bytes that may wait to be sent to one client; a client that falls further behind is disconnected')
            [CompletionResult]::new('--send-budget', '--send-budget', [CompletionResultType]::ParameterName, 'Bytes that may wait to be sent to all clients together; past it, clients already behind are disconnected')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Messages per second one client may send (0 = no limit)')
            [CompletionResult]::new('--burst', '--burst', [CompletionResultType]::ParameterName, 'Messages one client may send in a burst above --rate')
            [CompletionResult]::new('--announce-max', '--announce-max', [CompletionResultType]::ParameterName, 'Announce joins and leaves only while at most N people are online (0 = always)')
            [CompletionResult]::new('--max-rooms', '--max-rooms', [CompletionResultType]::ParameterName, 'Rooms on the server at once, #main included; past it, a new room takes the place of the unused room quiet the longest, and is refused when every room is in use')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Threads that run the server''s connections and its broker (one task, whatever the count); one is fastest on a small machine, where the threads would contend for the same lines in memory')
            [CompletionResult]::new('--max-joined', '--max-joined', [CompletionResultType]::ParameterName, 'Rooms one person may be in at once, #main included; past it, their /join is refused')
            [CompletionResult]::new('--max-per-addr', '--max-per-addr', [CompletionResultType]::ParameterName, 'Connections one address may hold (an IPv6 /64 counts as one address; 0 = no limit)')
            [CompletionResult]::new('--max-pending-per-addr', '--max-pending-per-addr', [CompletionResultType]::ParameterName, 'Connections one address may hold that have not logged in yet (0 = no limit)')
            [CompletionResult]::new('--connect-rate', '--connect-rate', [CompletionResultType]::ParameterName, 'New connections a second one address may open (0 = no limit)')
            [CompletionResult]::new('--connect-burst', '--connect-burst', [CompletionResultType]::ParameterName, 'New connections one address may open in a burst above --connect-rate')
            [CompletionResult]::new('--trust-addr', '--trust-addr', [CompletionResultType]::ParameterName, 'Exempt this network (ADDR/PREFIX, repeatable) from the limits per address; giving it replaces the default, `none` trusts nobody')
            [CompletionResult]::new('--name-hold', '--name-hold', [CompletionResultType]::ParameterName, 'Seconds a name stays its owner''s (for the same address) after a connection drops without /quit (0 = none)')
            [CompletionResult]::new('--max-kept-per-addr', '--max-kept-per-addr', [CompletionResultType]::ParameterName, 'Dropped sessions one address may keep resumable (their names held) within --resume-window; past it its oldest is forgotten (0 = no limit)')
            [CompletionResult]::new('--password-delay-max', '--password-delay-max', [CompletionResultType]::ParameterName, 'Longest wait, in seconds, between password attempts from an address that keeps giving wrong ones')
            [CompletionResult]::new('--socket-send-buffer', '--socket-send-buffer', [CompletionResultType]::ParameterName, 'Kernel send buffer of each connection, in bytes (SO_SNDBUF; 0 = the kernel''s own, which grows to MiBs for a client that does not read)')
            [CompletionResult]::new('--history', '--history', [CompletionResultType]::ParameterName, 'Messages the room remembers in memory, for late joiners, /history and resumed sessions (0 = none)')
            [CompletionResult]::new('--history-memory', '--history-memory', [CompletionResultType]::ParameterName, 'Memory the history of every room together may take, in MiB; past it, the oldest messages of any room are forgotten first (each room also keeps at most --history messages)')
            [CompletionResult]::new('--replay', '--replay', [CompletionResultType]::ParameterName, 'Messages a late joiner is sent right after logging in (0 = none)')
            [CompletionResult]::new('--resume-window', '--resume-window', [CompletionResultType]::ParameterName, 'Seconds a dropped session of our own client may be resumed, name and place in the room kept')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Keep a durable transcript in this directory (DIR/main/*.jsonl): every message is synced to disk before anyone sees it, and history survives a restart; without it the room forgets everything when the server stops')
            [CompletionResult]::new('--store-segment-mib', '--store-segment-mib', [CompletionResultType]::ParameterName, 'Start a new transcript file once the current one reaches this many MiB')
            [CompletionResult]::new('--output-rate', '--output-rate', [CompletionResultType]::ParameterName, 'Bytes a second of /who, /history and catch-up output one address may pull, reconnecting or not (each connection of a trusted address pays for itself), after a two-second allowance (0 = no limit)')
            [CompletionResult]::new('--max-handshakes', '--max-handshakes', [CompletionResultType]::ParameterName, 'Unfinished TLS handshakes at once, in all (0 = no limit)')
            [CompletionResult]::new('--max-handshakes-per-addr', '--max-handshakes-per-addr', [CompletionResultType]::ParameterName, 'Unfinished TLS handshakes at once from one address (0 = no limit)')
            [CompletionResult]::new('--tls-cert', '--tls-cert', [CompletionResultType]::ParameterName, 'Serve TLS with this certificate chain (PEM); needs --tls-key')
            [CompletionResult]::new('--tls-key', '--tls-key', [CompletionResultType]::ParameterName, 'The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1)')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'Room password, asked for before a name (prefer SOCKCHAT_PASSWORD or --password-file: a command line shows in `ps`)')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the room password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD')
            [CompletionResult]::new('--tls-self-signed', '--tls-self-signed', [CompletionResultType]::ParameterName, 'Serve TLS with a certificate made at start-up; prints its fingerprint and the `join` command that pins it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'sockchat;join' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Server to join: a hostname, an IPv4 or an IPv6 address; HOST:PORT also sets the port')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Server port')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Server port')
            [CompletionResult]::new('-n', '-n', [CompletionResultType]::ParameterName, 'Your username (asked for when not given)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Your username (asked for when not given)')
            [CompletionResult]::new('--room', '--room', [CompletionResultType]::ParameterName, 'The room to start in (the ''#'' is optional); everyone starts in #main otherwise')
            [CompletionResult]::new('--wait', '--wait', [CompletionResultType]::ParameterName, 'Keep retrying to connect for up to SECS seconds (while a server starts)')
            [CompletionResult]::new('--login-timeout', '--login-timeout', [CompletionResultType]::ParameterName, 'Give up if the server takes longer than SECS seconds to answer a step of the login (greeting, password, name)')
            [CompletionResult]::new('--tls-ca', '--tls-ca', [CompletionResultType]::ParameterName, 'Trust only the CA certificates in FILE (PEM) to vouch for the server; implies --tls')
            [CompletionResult]::new('--tls-fingerprint', '--tls-fingerprint', [CompletionResultType]::ParameterName, 'Accept only the server certificate with this SHA-256 fingerprint (as `serve --tls-self-signed` prints it); implies --tls')
            [CompletionResult]::new('--password', '--password', [CompletionResultType]::ParameterName, 'The room''s password (asked for on a terminal when the room wants one and none is given)')
            [CompletionResult]::new('--password-file', '--password-file', [CompletionResultType]::ParameterName, 'Read the room''s password from FILE (its only line); wins over --password and SOCKCHAT_PASSWORD')
            [CompletionResult]::new('--timestamps', '--timestamps', [CompletionResultType]::ParameterName, 'Show each line''s time (HH:MM, local time; the day when it changes); the default on a terminal')
            [CompletionResult]::new('--no-timestamps', '--no-timestamps', [CompletionResultType]::ParameterName, 'Show no times (the default when output is not a terminal)')
            [CompletionResult]::new('--no-bell', '--no-bell', [CompletionResultType]::ParameterName, 'Ring no bell when a line names you or a private message comes (a terminal rings by default)')
            [CompletionResult]::new('--reconnect', '--reconnect', [CompletionResultType]::ParameterName, 'When the connection drops, connect again and resume (the default on a terminal)')
            [CompletionResult]::new('--no-reconnect', '--no-reconnect', [CompletionResultType]::ParameterName, 'Exit (code 1) when the connection drops, also on a terminal')
            [CompletionResult]::new('--tls', '--tls', [CompletionResultType]::ParameterName, 'Connect with TLS, verifying the server against this system''s CAs (or --tls-ca)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'sockchat;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'sockchat;store' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read every line of every file of a store and report damage, without starting a server')
            break
        }
        'sockchat;store;check' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'sockchat;help' {
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a chat room that others join')
            [CompletionResult]::new('join', 'join', [CompletionResultType]::ParameterValue, 'Join a chat room from this terminal')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script to stdout')
            [CompletionResult]::new('store', 'store', [CompletionResultType]::ParameterValue, 'Look after a store (`serve --store DIR`) without starting a server')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'sockchat;help;serve' {
            break
        }
        'sockchat;help;join' {
            break
        }
        'sockchat;help;completions' {
            break
        }
        'sockchat;help;store' {
            [CompletionResult]::new('check', 'check', [CompletionResultType]::ParameterValue, 'Read every line of every file of a store and report damage, without starting a server')
            break
        }
        'sockchat;help;store;check' {
            break
        }
        'sockchat;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
