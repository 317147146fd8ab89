;;; emacs_test.el --- driven by tests/editors/test_emacs.py  -*- lexical-binding: t; -*-

;; `emacs --batch -q -l emacs_test.el': loads the shipped editors/emacs/llm-lsp.el pointed at the emulator,
;; opens sample.py, connects eglot, then types keys (C-M-i, C-c l i) and sends an explicit
;; textDocument/inlineCompletion request.  Writes what happened as JSON to $LLM_LSP_OUT and exits.
;; Every wait has a timeout.

(require 'json)
(require 'subr-x)

(defvar llm-lsp-test--result nil "Plist of what happened.")
(defvar llm-lsp-test--completions nil "textDocument/completion responses eglot received, newest first.")
(defvar llm-lsp-test--done nil)
(defvar llm-lsp-program)                  ; from the snippet, set before it is loaded
(defvar llm-lsp-initialization-options)

(defun llm-lsp-test--put (key value)
  (setq llm-lsp-test--result (plist-put llm-lsp-test--result key value)))

(defun llm-lsp-test--finish (&optional err)
  (unless llm-lsp-test--done
    (setq llm-lsp-test--done t)
    (when err (llm-lsp-test--put :error (format "%s" err)))
    (llm-lsp-test--put :messages (with-current-buffer (messages-buffer) (buffer-string)))
    (let ((buf (get-file-buffer (expand-file-name "sample.py"))))
      (when buf
        (with-current-buffer buf
          (llm-lsp-test--put :buffer (buffer-substring-no-properties (point-min) (point-max)))
          (let ((server (ignore-errors (eglot-current-server))))
            (when server
              (llm-lsp-test--put
               :events (with-current-buffer (jsonrpc-events-buffer server)
                         (let ((s (buffer-string))) (substring s (max 0 (- (length s) 6000))))))
              (ignore-errors (eglot-shutdown server nil 2)))))))
    (llm-lsp-test--put :completion_responses (vconcat (reverse llm-lsp-test--completions)))
    (with-temp-file (getenv "LLM_LSP_OUT")
      (let ((json-encoding-pretty-print nil))
        (insert (json-encode llm-lsp-test--result))))
    (kill-emacs (if err 1 0))))

;; Watchdog: timers run while Emacs waits for the server, so a hang still writes a result.
(run-at-time (string-to-number (or (getenv "LLM_LSP_WATCHDOG_S") "16")) nil
             (lambda () (llm-lsp-test--finish "watchdog: timed out")))

(defun llm-lsp-test--json (var)
  (json-parse-string (getenv var) :object-type 'plist :array-type 'list
                     :false-object :json-false :null-object nil))

(defun llm-lsp-test--wait (what pred &optional seconds)
  "Wait up to SECONDS (default 8) for PRED, processing server output.
Signal an error naming WHAT on timeout."
  (let ((deadline (+ (float-time) (or seconds 8))))
    (while (not (funcall pred))
      (when (> (float-time) deadline) (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.02))))

(defun llm-lsp-test--goto-line-end (text)
  "Go to the end of the first line that is exactly TEXT."
  (goto-char (point-min))
  (while (not (equal (buffer-substring-no-properties (line-beginning-position) (line-end-position)) text))
    (when (eobp) (error "No line is %S" text))
    (forward-line 1))
  (end-of-line))

(defun llm-lsp-test--line ()
  (buffer-substring-no-properties (line-beginning-position) (line-end-position)))

(defun llm-lsp-test--type (keys)
  "Type KEYS through the command loop, as a user would."
  (execute-kbd-macro (kbd keys)))

(defun llm-lsp-test--main ()
  ;; The shipped snippet with the test's program and options.
  (setq llm-lsp-program (llm-lsp-test--json "LLM_LSP_CMD"))
  (setq llm-lsp-initialization-options (llm-lsp-test--json "LLM_LSP_INIT"))
  (load (getenv "LLM_LSP_SNIPPET") nil t)
  (advice-add 'jsonrpc-request :around
              (lambda (orig server method &rest args)
                (let ((resp (apply orig server method args)))
                  (when (eq method :textDocument/completion) (push resp llm-lsp-test--completions))
                  resp)))
  (setq eglot-sync-connect 5)
  (find-file (expand-file-name "sample.py"))
  (unless (eq major-mode 'python-mode) (error "Not in python-mode: %s" major-mode))
  (eglot-ensure)
  (run-hooks 'post-command-hook)         ; eglot-ensure connects after the current command
  (llm-lsp-test--wait "eglot to connect" (lambda () (and (eglot-current-server) eglot--managed-mode)))
  (let ((server (eglot-current-server)))
    (llm-lsp-test--put :server_info (eglot--server-info server))
    (llm-lsp-test--put :inline_provider (and (eglot--server-capable :inlineCompletionProvider) t))
    (llm-lsp-test--put :snippet_fn (and (eglot--snippet-expansion-fn) t))

    ;; Explicit textDocument/inlineCompletion at the end of an indented line.
    (llm-lsp-test--goto-line-end "    count = ")
    (let* ((params (append (eglot--TextDocumentPositionParams) '(:context (:triggerKind 1))))
           (resp (jsonrpc-request server :textDocument/inlineCompletion params
                                  :deferred :textDocument/inlineCompletion :timeout 10)))
      (llm-lsp-test--put :inline_request (list :params params :response resp)))

    ;; The shipped command through its key, then keep typing after it: on the same line, after non-ASCII
    ;; text (eglot counts UTF-16 code units), and with a multi-line suggestion on an empty line in a block.
    (llm-lsp-test--type "C-c l i")
    (llm-lsp-test--type "SPC SPC # SPC n")
    (llm-lsp-test--put :inline_key (llm-lsp-test--line))
    (llm-lsp-test--goto-line-end "    tag = \"é😋\" + ")
    (llm-lsp-test--type "C-c l i")
    (llm-lsp-test--type "SPC SPC # SPC t")
    (llm-lsp-test--put :inline_key_utf (llm-lsp-test--line))
    (llm-lsp-test--goto-line-end "    while xs:")
    (forward-line 1) (end-of-line)
    (llm-lsp-test--type "C-c l i")
    (llm-lsp-test--type "SPC SPC # SPC w")
    (llm-lsp-test--put :inline_key_multi_point_line (llm-lsp-test--line))

    ;; completion-at-point (C-M-i) after typing a word prefix: the whole suggestion, as plain text.
    (llm-lsp-test--goto-line-end "    ")
    (llm-lsp-test--type "p")
    (llm-lsp-test--type "C-M-i")
    (llm-lsp-test--put :capf_single (llm-lsp-test--line))
    (llm-lsp-test--goto-line-end "    label = \"é😋\" + ")
    (llm-lsp-test--type "s")
    (llm-lsp-test--type "C-M-i")
    (llm-lsp-test--put :capf_utf (llm-lsp-test--line))
    (llm-lsp-test--goto-line-end "    price = ")
    (llm-lsp-test--type "f")
    (llm-lsp-test--type "C-M-i")
    (llm-lsp-test--put :capf_dollar (llm-lsp-test--line))

    ;; completion-at-point on an empty line in a block: a multi-line suggestion.
    (llm-lsp-test--goto-line-end "    for x in xs:")
    (forward-line 1) (end-of-line)
    (llm-lsp-test--type "C-M-i")
    (llm-lsp-test--put :capf_multi_point_line (llm-lsp-test--line))))

(condition-case err
    (progn (llm-lsp-test--main) (llm-lsp-test--finish))
  (error (llm-lsp-test--finish (format "%S" err))))

;;; emacs_test.el ends here
