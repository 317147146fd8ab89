;;; llm-lsp.el --- LLM code completions in Emacs through eglot and llm-lsp  -*- lexical-binding: t; -*-

;; Tested with Emacs 28.2 + eglot 1.9 (Debian: emacs-nox, elpa-eglot) by tests/editors/test_emacs.py, which loads
;; this very file; written to work with the newer eglot that ships with Emacs 29+ as well.
;;
;; Setup:
;;   1. Install the server so that `llm-lsp' is on PATH (`pip install .' in a checkout of llm-lsp).
;;   2. Put this file on your `load-path' and add (require 'llm-lsp) to your init file, or paste it there.
;;   3. Start it: M-x eglot in a buffer, or (add-hook 'python-mode-hook #'eglot-ensure) and so on.
;;
;; Use:
;;   C-M-i (completion-at-point; company and corfu use it too): the suggestion is one candidate, annotated
;;       with the model name; choosing it inserts the whole suggestion, multi-line ones indented.
;;       Without yasnippet eglot takes no snippets, and llm-lsp then sends plain text.
;;   C-c l i (`llm-lsp-insert-suggestion'): ask for an inline completion at point
;;       (textDocument/inlineCompletion) and insert it; point ends up after it.
;;
;; Settings are the server's initializationOptions (the same keys as its configuration file), written as a
;; plist: JSON false is :json-false.  Leave out :model to use the first fill-in-the-middle model found.
;; The entry this file adds to `eglot-server-programs' amounts to:
;;   ((python-mode js-mode ...) . ("llm-lsp" :initializationOptions
;;                                 (:completion (:model "ollama/qwen2.5-coder:1.5b")
;;                                  :providers (:ollama (:baseUrl "http://127.0.0.1:11434")))))

;;; Code:

(require 'eglot)
(require 'jsonrpc)

(defgroup llm-lsp nil
  "LLM code completions through the llm-lsp language server."
  :group 'eglot)

(defcustom llm-lsp-program '("llm-lsp")
  "Command line that starts the server: program and arguments."
  :type '(repeat string))

(defcustom llm-lsp-initialization-options
  '(:completion (:model "ollama/qwen2.5-coder:1.5b")
    :providers (:ollama (:baseUrl "http://127.0.0.1:11434")))
  "The server's initializationOptions, as a plist (JSON false is :json-false).
Read each time a connection starts: after a change, M-x eglot-reconnect."
  :type 'sexp)

(defcustom llm-lsp-modes
  '(python-mode js-mode typescript-mode c-mode c++-mode go-mode rust-mode java-mode ruby-mode sh-mode lua-mode)
  "Major modes in which eglot uses llm-lsp."
  :type '(repeat symbol))

(defun llm-lsp--contact (_interactive)
  "The eglot contact: `llm-lsp-program' with `llm-lsp-initialization-options'."
  (append llm-lsp-program (list :initializationOptions llm-lsp-initialization-options)))

(add-to-list 'eglot-server-programs (cons llm-lsp-modes #'llm-lsp--contact))

(defun llm-lsp--request (server method params)
  "Send METHOD with PARAMS to SERVER and wait for the answer.
Pending buffer changes are sent first."
  (if (fboundp 'eglot--request)
      (eglot--request server method params)
    (jsonrpc-request server method params :deferred method)))

(defun llm-lsp-insert-suggestion ()
  "Ask llm-lsp for a suggestion at point and insert it.
This is textDocument/inlineCompletion.  Return the inserted text, or nil
when there is no suggestion."
  (interactive)
  (let* ((server (eglot--current-server-or-lose))
         (params (append (eglot--TextDocumentPositionParams) '(:context (:triggerKind 1))))
         (result (llm-lsp--request server :textDocument/inlineCompletion params))
         (items (if (vectorp result) result (plist-get result :items)))
         (item (and items (> (length items) 0) (elt items 0))))
    (if (not item)
        (progn (message "llm-lsp: no suggestion here") nil)
      (let* ((text (plist-get item :insertText))
             (snippet (and (not (stringp text)) (plist-get text :value)))
             (range (plist-get item :range)))
        (when range
          (let ((region (eglot--range-region range)))
            (delete-region (car region) (cdr region))
            (goto-char (car region))))
        (cond ((not snippet) (insert text) text)
              ((eglot--snippet-expansion-fn) (funcall (eglot--snippet-expansion-fn) snippet) snippet)
              (t (insert snippet) snippet))))))

(define-key eglot-mode-map (kbd "C-c l i") #'llm-lsp-insert-suggestion)

(provide 'llm-lsp)
;;; llm-lsp.el ends here
