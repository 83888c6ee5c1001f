// Files a server reloads when they change (the webhook's certificate, key, CA and mutations): a
// group of paths is looked at every interval, and at once when inotify reports a change in one
// of their directories, by the identity and times of what each path names (symlinks followed,
// so a Secret or ConfigMap volume's atomic swap of its `..data` link counts as a change). When
// anything in the group differs from what was last loaded, the group's files are read together
// and handed to `load`; a load that fails keeps the last good one, and is tried again at the next
// look (a certificate and key written one after the other must not leave the old pair forever),
// reporting each distinct failure once.
import { type FSWatcher, watch } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { describeCause } from "../core/errors.ts";

export interface WatchedGroup {
  /** Stops looking. */
  close(): void;
}

export interface WatchOptions {
  /** Milliseconds between looks. */
  readonly intervalMs: number;
  /** A load that failed: the reason, once per distinct failure. */
  readonly onError: (message: string) => void;
}

/** What a path names now: device, inode, size and times, or the error that stat gave. */
async function signature(path: string): Promise<string> {
  try {
    const info = await stat(path, { bigint: true });
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
  } catch (error) {
    return `error:${(error as NodeJS.ErrnoException).code ?? describeCause(error)}`;
  }
}

async function signatures(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map(signature))).join("|");
}

/**
 * Reads `paths` once now (a failure is thrown, for the caller to report at start-up), hands them
 * to `load`, then watches them. `load` throws to refuse what it was given.
 */
export async function watchGroup(paths: readonly string[], load: (contents: readonly Buffer[]) => void, options: WatchOptions): Promise<WatchedGroup> {
  let loaded = await signatures(paths);
  load(await Promise.all(paths.map((path) => readFile(path))));
  let lastError: string | undefined;
  let looking = false;
  let again = false;
  let closed = false;

  const look = async (): Promise<void> => {
    if (looking) {
      again = true;
      return;
    }
    looking = true;
    try {
      do {
        again = false;
        const now = await signatures(paths);
        if (closed || now === loaded) continue;
        try {
          load(await Promise.all(paths.map((path) => readFile(path))));
          loaded = now;
          lastError = undefined;
        } catch (error) {
          const message = describeCause(error);
          if (message !== lastError) options.onError(message);
          lastError = message;
        }
      } while (again && !closed);
    } finally {
      looking = false;
    }
  };
  const lookSoon = (): void => {
    look().catch((error: unknown) => options.onError(describeCause(error)));
  };

  const timer = setInterval(lookSoon, options.intervalMs);
  timer.unref();
  const watchers: FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  for (const directory of new Set(paths.map((path) => dirname(path)))) {
    try {
      const watcher = watch(directory, { persistent: false }, () => {
        // Editors and kubelets write in several steps: look once they are done.
        clearTimeout(debounce);
        debounce = setTimeout(lookSoon, 50);
        debounce.unref();
      });
      // inotify limits or a directory that goes away: the interval still looks.
      watcher.on("error", () => watcher.close());
      watchers.push(watcher);
    } catch {
      // No inotify here: the interval alone.
    }
  }
  return {
    close() {
      closed = true;
      clearInterval(timer);
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
    },
  };
}
