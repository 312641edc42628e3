;;; codestral-eglot.el --- codestral-lsp through eglot's completion menu  -*- lexical-binding: t; -*-

;;; Commentary:

;; eglot has no inline completion: Codestral's suggestion comes as one item of
;; `completion-at-point' (C-M-i, or the menu of company or corfu), marked "Codestral".
;; eglot also runs one server per buffer, so pick one of the two ways below and paste it
;; into your init file (this file is a set of examples, not a package).
;;
;; Settings go to the server as `workspace/didChangeConfiguration' under the `codestral'
;; key of `eglot-workspace-configuration' (camelCase keys, see the main README).  The key
;; is read from $CODESTRAL_API_KEY (or $MISTRAL_API_KEY / $LANGDOCK_API_KEY) in Emacs's
;; environment.

;;; Code:

(require 'eglot)

(setq-default eglot-workspace-configuration
              '(:codestral (:provider "codestral" :maxTokens 128)))

;; Way 1: codestral-lsp as the only server of modes that have none of their own.
(add-to-list 'eglot-server-programs
             '((markdown-mode text-mode conf-mode) . ("codestral-lsp")))

;; Way 2: next to the main server, through the rassumfrassum multiplexer
;; (`pipx install rassumfrassum', command `rass'): `rass -- SERVER ARGS -- SERVER ARGS'
;; starts both and merges their answers, completion items included.
(add-to-list 'eglot-server-programs
             '((python-mode python-ts-mode)
               . ("rass" "--" "basedpyright-langserver" "--stdio" "--" "codestral-lsp")))

;; Start eglot in Python buffers: `python-base-mode' (both python modes) from Emacs 29,
;; `python-mode' before it.
(add-hook (if (fboundp 'python-base-mode) 'python-base-mode-hook 'python-mode-hook)
          #'eglot-ensure)

(provide 'codestral-eglot)
;;; codestral-eglot.el ends here
