;;; codestral-lsp.el --- Codestral ghost text in lsp-mode via codestral-lsp  -*- lexical-binding: t; -*-

;;; Commentary:

;; Registers codestral-lsp as an lsp-mode add-on client: it runs next to each buffer's main
;; language server and supplies inline completions (grey text at point), shown by
;; `lsp-inline-completion-mode' (lsp-inline-completion.el: MELPA snapshots since December
;; 2024; the 9.0.0 release predates it).  An lsp-mode without it (8.0 in Debian 12, 9.0)
;; gets the suggestion as an item of the completion menu instead (company, or
;; `completion-at-point'), and says so once in *Messages*.
;;
;; Put this file on your `load-path' and add (with-eval-after-load 'lsp-mode (require
;; 'codestral-lsp)) to your init file, or paste the code below after lsp-mode is loaded.
;; The key is read from $CODESTRAL_API_KEY (or $MISTRAL_API_KEY / $LANGDOCK_API_KEY, by
;; `:provider') in Emacs's environment; `setenv' works before the server starts.
;;
;; RET or TAB accepts the suggestion shown, C-g drops it, any other key drops it and
;; does what it does.  M-x lsp-inline-completion-display asks at once.
;; Logs: the *codestral::stderr* buffer, and *lsp-log* with `lsp-log-io'.

;;; Code:

(require 'lsp-mode)
(require 'lsp-inline-completion nil t)

(defgroup codestral-lsp nil
  "Codestral completions through the codestral-lsp language server."
  :group 'lsp-mode)

(defcustom codestral-lsp-command '("codestral-lsp")
  "Command line that starts the server, e.g. (\"codestral-lsp\" \"-v\")."
  :type '(repeat string))

(defcustom codestral-lsp-settings
  '(:provider "codestral")
  "The server's settings (initializationOptions): a plist with the camelCase keys
of the main README, e.g. (:model \"codestral-2508\" :maxTokens 128 :stop [\"\\n\\n\"]).
Without `:completionFallback', it is \"off\" where lsp-mode has inline completion
(a menu item would repeat the ghost text) and \"on\" where it has not."
  :type 'plist)

(defcustom codestral-lsp-modes '(prog-mode)
  "Major modes, with the modes derived from them, in which codestral-lsp runs."
  :type '(repeat symbol))

(defun codestral-lsp--activate-p (_file-name mode)
  "Non-nil when a buffer in MODE should get Codestral completions."
  (apply #'provided-mode-derived-p mode codestral-lsp-modes))

(defun codestral-lsp--inline-p ()
  "Non-nil when this lsp-mode shows inline completions (ghost text)."
  (fboundp 'lsp-inline-completion-mode))

(defun codestral-lsp--initialization-options ()
  "`codestral-lsp-settings', with the menu on where there is no ghost text."
  (if (plist-member codestral-lsp-settings :completionFallback)
      codestral-lsp-settings
    (append codestral-lsp-settings
            (list :completionFallback (if (codestral-lsp--inline-p) "off" "on")))))

(unless (codestral-lsp--inline-p)
  (message "codestral-lsp: this lsp-mode has no `lsp-inline-completion-mode' (it came \
after lsp-mode 9.0): Codestral's suggestion comes as an item of the completion menu \
(company, or M-x completion-at-point) instead of ghost text"))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection (lambda () codestral-lsp-command))
  :activation-fn #'codestral-lsp--activate-p
  :server-id 'codestral
  :add-on? t
  :priority -2
  :completion-in-comments? t
  :initialization-options #'codestral-lsp--initialization-options))

(defun codestral-lsp--served-p ()
  "Non-nil when codestral-lsp is one of the current buffer's servers."
  (seq-some (lambda (workspace)
              (eq (lsp--client-server-id (lsp--workspace-client workspace)) 'codestral))
            (lsp-workspaces)))

(defun codestral-lsp--enable-inline ()
  "Turn on `lsp-inline-completion-mode' where codestral-lsp serves the buffer."
  (when (and (fboundp 'lsp-inline-completion-mode) (codestral-lsp--served-p))
    (lsp-inline-completion-mode 1)))

(add-hook 'lsp-configure-hook #'codestral-lsp--enable-inline)

(with-eval-after-load 'lsp-inline-completion
  ;; lsp-mode waits 2 s of idle time by default; the server debounces on its own.
  (setq lsp-inline-completion-idle-delay 0.3)
  ;; TAB cycles through items by default; codestral-lsp sends one, so let TAB accept it.
  (define-key lsp-inline-completion-active-map (kbd "<tab>") #'lsp-inline-completion-accept)
  (define-key lsp-inline-completion-active-map (kbd "TAB") #'lsp-inline-completion-accept))

(provide 'codestral-lsp)
;;; codestral-lsp.el ends here
